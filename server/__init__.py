"""bnns.server: the handle registry, the proto <-> NumPy codec, the transport-free core, and the
two thin front doors over it (gRPC in grpc_service.py, REST in rest.py), started by cli.py."""
