"""Local stand-ins for AWS endpoints, on 127.0.0.1, for the tests and the benchmarks.

Each speaks the real service's wire protocol, so real SDKs and runtimes talk to
it unchanged, and says where each behaviour it emulates is documented.
"""
