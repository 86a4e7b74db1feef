package grpcconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// schema finds the descriptors of the methods links name: in the .proto files the
// configuration names (compiled once, at build), or from the server's reflection
// service (asked once per service, when a link first needs it).
type schema struct {
	files   *protoregistry.Files // from proto_files; nil for reflection
	timeout time.Duration

	mu    sync.Mutex
	found map[string]protoreflect.ServiceDescriptor // reflection results by service name
}

// compileProtos parses and links the .proto files with protocompile; the files (and
// their imports) are read with sdk.ReadFile's checks. google/protobuf/*.proto are built in.
func compileProtos(ctx context.Context, files, importPaths []string) (*protoregistry.Files, error) {
	accessor := func(path string) (io.ReadCloser, error) {
		data, err := sdk.ReadFile(optProtoFiles, path, 0)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths, Accessor: accessor}),
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.ToSlash(filepath.Clean(f))
	}
	compiled, err := c.Compile(ctx, names...)
	var oe *sdk.OptionError
	switch {
	case errors.As(err, &oe): // a file ReadFile refused; its text names the option
		return nil, sdk.AtOption(optProtoFiles, sdk.Wrap(sdk.KindInvalidConfig, oe))
	case err != nil:
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optProtoFiles, "%v", err)
	}
	reg := new(protoregistry.Files)
	for _, f := range compiled {
		if err := registerWithImports(reg, f); err != nil {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optProtoFiles, "%v", err)
		}
	}
	return reg, nil
}

// registerWithImports adds f and, first, every file it imports to reg.
func registerWithImports(reg *protoregistry.Files, f protoreflect.FileDescriptor) error {
	if _, err := reg.FindFileByPath(f.Path()); err == nil {
		return nil
	}
	imports := f.Imports()
	for i := 0; i < imports.Len(); i++ {
		if err := registerWithImports(reg, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return reg.RegisterFile(f)
}

// service returns the descriptor of service name. With reflection it asks the server
// over cc; a server that does not know the service gives KindInvalidDestination, a
// server that cannot be reached a retryable kind.
func (s *schema) service(ctx context.Context, cc grpc.ClientConnInterface, name string) (protoreflect.ServiceDescriptor, error) {
	if s.files != nil {
		d, err := s.files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidDestination, "service %s is not in proto_files", name)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, sdk.Errorf(sdk.KindInvalidDestination, "%s is not a service in proto_files", name)
		}
		return sd, nil
	}
	s.mu.Lock()
	sd, ok := s.found[name]
	s.mu.Unlock()
	if ok {
		return sd, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sd, err := reflectService(ctx, cc, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.found == nil {
		s.found = map[string]protoreflect.ServiceDescriptor{}
	}
	s.found[name] = sd
	s.mu.Unlock()
	return sd, nil
}

// reflectService asks the server's reflection service (grpc.reflection.v1) for the
// file that defines service name and for the files it imports, and builds their
// descriptors.
func reflectService(ctx context.Context, cc grpc.ClientConnInterface, name string) (protoreflect.ServiceDescriptor, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Descriptors are not values: max_message_size does not bound them.
	stream, err := rpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx, grpc.MaxCallRecvMsgSize(reflectionMax))
	if err != nil {
		return nil, reflectionErr(name, err)
	}
	defer stream.CloseSend()
	protos := map[string]*descriptorpb.FileDescriptorProto{}
	ask := func(req *rpb.ServerReflectionRequest) error {
		if err := stream.Send(req); err != nil {
			if errors.Is(err, io.EOF) { // the server ended the stream (Unimplemented, say): Recv has its status
				_, err = stream.Recv()
			}
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if e := resp.GetErrorResponse(); e != nil {
			return status.Error(codes.Code(e.GetErrorCode()), e.GetErrorMessage())
		}
		fds := resp.GetFileDescriptorResponse()
		if fds == nil {
			return fmt.Errorf("reflection answered without file descriptors")
		}
		for _, raw := range fds.GetFileDescriptorProto() {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(raw, fd); err != nil {
				return fmt.Errorf("reflection sent a file descriptor that does not decode: %v", err)
			}
			protos[fd.GetName()] = fd
		}
		return nil
	}
	if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: name}}); err != nil {
		return nil, reflectionErr(name, err)
	}
	// The server may leave out files it sent before; ask for every missing import.
	for missing := missingImports(protos); len(missing) > 0; missing = missingImports(protos) {
		for _, f := range missing {
			if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: f}}); err != nil {
				return nil, reflectionErr(name, fmt.Errorf("import %s: %w", f, err))
			}
			if _, ok := protos[f]; !ok {
				return nil, sdk.Errorf(sdk.KindInvalidDestination, "service %s: reflection did not send the imported file %s", name, f)
			}
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range protos {
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidDestination, "service %s: the server's descriptors do not link: %v", name, err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidDestination, "service %s: not found through reflection", name)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, sdk.Errorf(sdk.KindInvalidDestination, "%s is not a service", name)
	}
	return sd, nil
}

// reflectionMax bounds one reflection answer.
const reflectionMax = 64 << 20

// missingImports lists the imports of protos that protos does not hold.
func missingImports(protos map[string]*descriptorpb.FileDescriptorProto) []string {
	var out []string
	for _, fd := range protos {
		for _, dep := range fd.GetDependency() {
			if _, ok := protos[dep]; !ok {
				out = append(out, dep)
			}
		}
	}
	return out
}

// reflectionErr classifies a failed reflection lookup of service name: a server
// without reflection or without the service is a permanent mistake, anything else
// (the server down, a deadline) retryable.
func reflectionErr(name string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return sdk.Errorf(sdk.KindConnectionFailed, "service %s: reflection: %v", name, err)
	}
	switch st.Code() {
	case codes.Unimplemented:
		return sdk.Errorf(sdk.KindInvalidDestination, "service %s: the server has no reflection service (grpc.reflection.v1); name the .proto files in proto_files", name)
	case codes.NotFound:
		return sdk.Errorf(sdk.KindInvalidDestination, "service %s: the server does not know it (reflection: %s)", name, st.Message())
	}
	return statusErr("service "+name+": reflection", err)
}

// resolved is a link's method with what a call needs.
type resolved struct {
	m      method
	desc   protoreflect.MethodDescriptor
	field  protoreflect.FieldDescriptor // payload_field of the request (link_to) or response (link_from); nil for JSON
	stream *grpc.StreamDesc             // nil for a unary method
}

// resolve finds m's descriptor and checks it fits the link's direction and options.
func (s *schema) resolve(ctx context.Context, cc grpc.ClientConnInterface, dir sdk.Direction, m method, lo linkOptions) (*resolved, error) {
	sd, err := s.service(ctx, cc, m.service)
	if err != nil {
		return nil, err
	}
	md := sd.Methods().ByName(protoreflect.Name(m.name))
	if md == nil {
		return nil, sdk.Errorf(sdk.KindInvalidDestination, "service %s has no method %s", m.service, m.name)
	}
	r := &resolved{m: m, desc: md}
	msg := md.Input()
	switch dir {
	case sdk.Outbound:
		if md.IsStreamingServer() {
			return nil, sdk.Errorf(sdk.KindInvalidDestination, "method %s is %s; link_to calls unary or client-streaming methods", m, kindOf(md))
		}
		if md.IsStreamingClient() {
			r.stream = &grpc.StreamDesc{StreamName: m.name, ClientStreams: true}
		}
	case sdk.Inbound:
		if md.IsStreamingClient() || !md.IsStreamingServer() {
			return nil, sdk.Errorf(sdk.KindInvalidDestination, "method %s is %s; link_from opens server-streaming methods", m, kindOf(md))
		}
		msg = md.Output()
		r.stream = &grpc.StreamDesc{StreamName: m.name, ServerStreams: true}
	}
	if lo.payloadField != "" {
		f := msg.Fields().ByName(protoreflect.Name(lo.payloadField))
		switch {
		case f == nil:
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optPayloadField, "message %s has no field %q", msg.FullName(), lo.payloadField)
		case f.IsList() || f.IsMap() || f.Kind() != protoreflect.BytesKind && f.Kind() != protoreflect.StringKind:
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optPayloadField, "field %s is not a single bytes or string field", f.FullName())
		}
		r.field = f
	}
	if dir == sdk.Inbound {
		if err := protojson.Unmarshal([]byte(lo.request), dynamicpb.NewMessage(md.Input())); err != nil {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optRequest, "not a %s in JSON: %v", md.Input().FullName(), err)
		}
	}
	return r, nil
}

// kindOf names a method's streaming kind.
func kindOf(md protoreflect.MethodDescriptor) string {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return "bidirectional streaming"
	case md.IsStreamingClient():
		return "client streaming"
	case md.IsStreamingServer():
		return "server streaming"
	}
	return "unary"
}
