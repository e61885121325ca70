package server

import (
	"context"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// sessionService is Logon, Logoff, Get Notification Topics and Query API
// Version.
type sessionService struct {
	bcpiiv1.UnimplementedSessionServiceServer
	srv *Server
}

func (s *sessionService) Logon(ctx context.Context, req *bcpiiv1.LogonRequest) (*bcpiiv1.LogonResponse, error) {
	if s.srv.auth.Sessions == nil {
		return nil, bcpii.ErrLogonFailed
	}
	sess, err := s.srv.auth.Sessions.Logon(ctx, req.GetUserid(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	r := sess.LogonResponse()
	return &bcpiiv1.LogonResponse{
		ApiSession:           r.APISession,
		SessionCredential:    r.SessionCredential,
		NotificationTopic:    r.NotificationTopic,
		JobNotificationTopic: r.JobNotificationTopic,
		ApiMajorVersion:      int32(r.APIMajorVersion),
		ApiMinorVersion:      int32(r.APIMinorVersion),
		PasswordExpires:      int32(r.PasswordExpires),
	}, nil
}

func (s *sessionService) Logoff(ctx context.Context, _ *bcpiiv1.LogoffRequest) (*bcpiiv1.LogoffResponse, error) {
	who, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	if who.Session == nil || s.srv.auth.Sessions == nil {
		return nil, bcpii.ErrNoSession
	}
	if err := s.srv.auth.Sessions.Logoff(ctx, who.Session.ID); err != nil {
		return nil, err
	}
	return &bcpiiv1.LogoffResponse{}, nil
}

// JobNotificationTopicType is the topic-type of a job-notification topic.
const JobNotificationTopicType = "job-notification"

// GetNotificationTopics answers the caller's job topic: its session's, as
// the logon answered it, or its partition's.
func (s *sessionService) GetNotificationTopics(ctx context.Context, _ *bcpiiv1.GetNotificationTopicsRequest) (*bcpiiv1.GetNotificationTopicsResponse, error) {
	who, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	// The interceptor's decision carries the session with its topic: it
	// is not looked up again.
	var topic string
	switch {
	case who.BCPii:
		topic = bcpii.PartitionJobTopic(who.Principal.Partition())
	case who.Session != nil:
		topic = who.Session.JobNotificationTopic
	default:
		return nil, bcpii.ErrNoSession
	}
	return &bcpiiv1.GetNotificationTopicsResponse{Topics: []*bcpiiv1.NotificationTopic{
		{TopicType: JobNotificationTopicType, TopicName: topic},
	}}, nil
}

// GetVersion answers as the console the backend reaches: the simulated
// SE's HMC, or the upstream HMC. The gateway's own build version is not
// the HMC's and never appears here.
func (s *sessionService) GetVersion(ctx context.Context, _ *bcpiiv1.GetVersionRequest) (*bcpiiv1.GetVersionResponse, error) {
	v := bcpii.DefaultConsoleVersion()
	if s.srv.backend != nil {
		var err error
		if v, err = s.srv.backend.ConsoleVersion(ctx); err != nil {
			return nil, err
		}
	}
	return &bcpiiv1.GetVersionResponse{
		HmcName:         v.Name,
		HmcVersion:      v.Version,
		ApiMajorVersion: int32(v.APIMajor),
		ApiMinorVersion: int32(v.APIMinor),
	}, nil
}
