// Package grpcconn links AimDB records to gRPC services. A link_to calls a unary
// method once per value ("grpc://pkg.Service/Method"), or streams each batch of values
// to a client-streaming method as one call; a link_from keeps a server-streaming call
// open and turns each message into a value. Messages are built
// at run time (dynamicpb) from descriptors that come from the server's reflection
// service or from .proto files named in the configuration (compiled with
// protocompile, no protoc needed), and are mapped to and from JSON with protojson,
// or carry a value as it is in one bytes or string field. See docs/grpc.md.
package grpcconn
