"""bnns.inference: the KServe V2 (Open Inference Protocol) messages, package `inference`, generated from the .proto beside this one (proto/generate.sh)."""
