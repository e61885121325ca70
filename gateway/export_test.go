package gateway

// LingerClose is how long a finished event stream keeps its connection.
const LingerClose = lingerClose
