package bcpii

// The job-notification topics of the STOMP interface (spec section 5). A
// session's topic is random, made at logon (Sessions.Logon); a requesting
// partition's is named after the partition, so that it is the same for
// every connection. Knowing another's topic gives nothing: a subscription
// is accepted only to a topic of the subscriber's own (OwnsJobTopic).

// partitionTopicPrefix starts every partition's topic. Session topics are
// "bcpii-gateway." and hex digits, so the two never meet.
const partitionTopicPrefix = "bcpii-gateway.partition."

// PartitionJobTopic is the job-notification topic of requesting partition
// t.
func PartitionJobTopic(t TargetName) string {
	return partitionTopicPrefix + t.String() + ".job"
}

// OwnsJobTopic reports whether topic is one of p's job-notification
// topics: the partition's own topic, or the job-notification-topic of a
// live session of the API user.
func (a *Authenticator) OwnsJobTopic(p Principal, topic string) bool {
	switch {
	case p.IsPartition():
		return topic == PartitionJobTopic(p.Partition())
	case p.User() != "" && a.Sessions != nil:
		user, ok := a.Sessions.JobTopicUser(topic)
		return ok && user == p.User()
	}
	return false
}
