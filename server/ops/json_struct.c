/* JSON to google.protobuf.Struct (json_struct.h). */
#include "server/ops/json_struct.h"

#include <string.h>

static Google__Protobuf__Value *value_from(const json_t *v, pz_arena *a);

static Google__Protobuf__ListValue *list_from(const json_t *arr, pz_arena *a)
{
    Google__Protobuf__ListValue *l = pz_arena_alloc(a, sizeof *l);
    google__protobuf__list_value__init(l);
    l->n_values = json_array_size(arr);
    l->values = pz_arena_calloc(a, l->n_values ? l->n_values : 1, sizeof *l->values);
    for (size_t i = 0; i < l->n_values; i++)
        l->values[i] = value_from(json_array_get(arr, i), a);
    return l;
}

static Google__Protobuf__Value *value_from(const json_t *v, pz_arena *a)
{
    Google__Protobuf__Value *out = pz_arena_alloc(a, sizeof *out);
    google__protobuf__value__init(out);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
        out->struct_value = pz_json_struct_from(v, a);
        break;
    case JSON_ARRAY:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
        out->list_value = list_from(v, a);
        break;
    case JSON_STRING:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        out->string_value = pz_arena_strndup(a, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        out->number_value = json_number_value(v);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        out->bool_value = json_is_true(v);
        break;
    case JSON_NULL:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
        out->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
        break;
    }
    return out;
}

Google__Protobuf__Struct *pz_json_struct_from(const json_t *obj, pz_arena *a)
{
    if (!json_is_object(obj))
        return NULL;
    Google__Protobuf__Struct *s = pz_arena_alloc(a, sizeof *s);
    google__protobuf__struct__init(s);
    s->n_fields = json_object_size(obj);
    s->fields = pz_arena_calloc(a, s->n_fields ? s->n_fields : 1, sizeof *s->fields);
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        Google__Protobuf__Struct__FieldsEntry *e = pz_arena_alloc(a, sizeof *e);
        google__protobuf__struct__fields_entry__init(e);
        e->key = pz_arena_strdup(a, key);
        e->value = value_from(v, a);
        s->fields[i++] = e;
    }
    return s;
}

Google__Protobuf__Struct *pz_json_struct_parse(const char *text, size_t len, pz_arena *a)
{
    json_error_t err;
    json_t *doc = json_loadb(text, len, 0, &err);
    Google__Protobuf__Struct *s = pz_json_struct_from(doc, a);
    json_decref(doc);
    return s;
}
