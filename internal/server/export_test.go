package server

// MaxStreamLinger is the longest a watch stream stays open after its final
// status.
const MaxStreamLinger = streamLinger + lingerGrain
