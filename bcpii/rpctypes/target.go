package rpctypes

import "github.com/bcpii-gateway/bcpii-gateway/bcpii/targetname"

// CheckTargetName reports what is wrong with s as an X-API-Target-Name, a
// CPC (NETID.NAU) or a logical partition (NETID.NAU.LPARNAME), accepting
// lower case; nil if it is well formed. It is the gateway's own check
// (bcpii/targetname), so a client that checks a name before sending it
// gets the message the gateway would answer.
func CheckTargetName(s string) error { return targetname.Check(s) }
