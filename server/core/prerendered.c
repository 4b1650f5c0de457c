#include "server/core/prerendered.h"

#include <pthread.h>

/* Filled once from google.protobuf.Struct's descriptor (its field table is not a constant
 * expression in C); only its address identifies prerendered Structs. */
static ProtobufCMessageDescriptor descriptor;
static pthread_once_t descriptor_once = PTHREAD_ONCE_INIT;

static void init_descriptor(void)
{
    descriptor = google__protobuf__struct__descriptor;
    descriptor.sizeof_message = sizeof(pz_prerendered_struct);
}

void pz_prerendered_struct_init(pz_prerendered_struct *s)
{
    static const Google__Protobuf__Struct empty = GOOGLE__PROTOBUF__STRUCT__INIT;
    pthread_once(&descriptor_once, init_descriptor);
    s->msg = empty;
    s->msg.base.descriptor = &descriptor;
    s->json = "{}";
    s->json_len = 2;
    s->json_depth = 1;
}

bool pz_prerendered_json(const ProtobufCMessage *m, const char **json, size_t *len, unsigned *depth)
{
    if (m->descriptor != &descriptor)
        return false;
    const pz_prerendered_struct *s = (const pz_prerendered_struct *)m;
    *json = s->json;
    *len = s->json_len;
    *depth = s->json_depth;
    return true;
}

Google__Protobuf__Struct *pz_prerendered_expand(const Google__Protobuf__Struct *s, pz_arena *arena)
{
    if (s->base.descriptor != &descriptor)
        return (Google__Protobuf__Struct *)s;
    size_t len = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *wire = pz_arena_alloc(arena, len + 1);
    protobuf_c_message_pack(&s->base, wire);
    return (Google__Protobuf__Struct *)protobuf_c_message_unpack(&google__protobuf__struct__descriptor, &arena->pb, len,
                                                                 wire);
}
