"""Scenario grpc's core: any gRPC service's descriptors (compiled .proto files or server reflection), the
profile's ``[[call]]`` templates resolved against them, and the requests they build.

No Locust and no gevent here: descriptors are resolved once by the run verb before Locust is imported
(reflection uses a sync channel), and the Locust users (``aranya_perf.loadtests.service_user``) get them as a
serialized ``FileDescriptorSet``.
"""

from aranya_perf.grpc_service.descriptors import ServiceError

__all__ = ["ServiceError"]
