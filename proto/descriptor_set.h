/* The serialized google.protobuf.FileDescriptorSet of every proto the server serves (the service,
 * its imports, grpc health and reflection), generated at build time for gRPC server reflection.
 * Read-only; valid for the life of the process. */
#ifndef PZ_DESCRIPTOR_SET_H
#define PZ_DESCRIPTOR_SET_H

#include <stddef.h>

extern const unsigned char pz_descriptor_set[];
extern const size_t pz_descriptor_set_len;

#endif
