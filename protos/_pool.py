"""The descriptor pool that Gatewise's generated stubs register in (see ``generate.py``)."""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
