#include "server/recommenders/struct_json.h"

#include <math.h>
#include <string.h>

static Google__Protobuf__Struct *struct_from_jvalue(const pz_jvalue *obj, pz_arena *arena, int depth);

static Google__Protobuf__Value *value_from_jvalue(const pz_jvalue *v, pz_arena *arena, int depth)
{
    Google__Protobuf__Value *out =
        (Google__Protobuf__Value *)pz_arena_new_message(arena, &google__protobuf__value__descriptor);
    switch (v->type) {
    case PZ_JOBJECT:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
        out->struct_value = struct_from_jvalue(v, arena, depth + 1);
        return out->struct_value != NULL ? out : NULL;
    case PZ_JARRAY: {
        if (depth + 1 > PZ_STRUCT_JSON_MAX_DEPTH)
            return NULL;
        Google__Protobuf__ListValue *l =
            (Google__Protobuf__ListValue *)pz_arena_new_message(arena, &google__protobuf__list_value__descriptor);
        l->values = pz_arena_calloc(arena, v->len ? v->len : 1, sizeof *l->values);
        for (const pz_jvalue *m = v->first; m != NULL; m = m->next) {
            l->values[l->n_values] = value_from_jvalue(m, arena, depth + 1);
            if (l->values[l->n_values++] == NULL)
                return NULL;
        }
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
        out->list_value = l;
        return out;
    }
    case PZ_JSTRING:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        out->string_value = (char *)v->str;
        return out;
    case PZ_JNUMBER:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        out->number_value = v->number;
        return out;
    case PZ_JTRUE:
    case PZ_JFALSE:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        out->bool_value = v->type == PZ_JTRUE;
        return out;
    case PZ_JNULL:
        out->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
        out->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
        return out;
    }
    return NULL;
}

static Google__Protobuf__Struct *struct_from_jvalue(const pz_jvalue *obj, pz_arena *arena, int depth)
{
    if (obj->type != PZ_JOBJECT || depth > PZ_STRUCT_JSON_MAX_DEPTH)
        return NULL;
    Google__Protobuf__Struct *s =
        (Google__Protobuf__Struct *)pz_arena_new_message(arena, &google__protobuf__struct__descriptor);
    s->fields = pz_arena_calloc(arena, obj->len ? obj->len : 1, sizeof *s->fields);
    for (const pz_jvalue *m = obj->first; m != NULL; m = m->next) {
        Google__Protobuf__Struct__FieldsEntry *e = (Google__Protobuf__Struct__FieldsEntry *)pz_arena_new_message(
            arena, &google__protobuf__struct__fields_entry__descriptor);
        e->key = (char *)m->key;
        e->value = value_from_jvalue(m, arena, depth);
        if (e->value == NULL)
            return NULL;
        s->fields[s->n_fields++] = e;
    }
    return s;
}

Google__Protobuf__Struct *pz_struct_from_jvalue(const pz_jvalue *obj, pz_arena *arena)
{
    return struct_from_jvalue(obj, arena, 1);
}

static bool named_in(const char *key, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, names[i]) == 0)
            return true;
    return false;
}

int pz_struct_from_other_members(const pz_jvalue *obj, const char *const *skip, size_t n_skip, size_t max_fields,
                                 pz_arena *arena, Google__Protobuf__Struct **out)
{
    *out = NULL;
    if (obj->type != PZ_JOBJECT)
        return -1;
    Google__Protobuf__Struct *s = NULL;
    const char **kept = NULL;
    for (const pz_jvalue *m = obj->first; m != NULL; m = m->next) {
        if (named_in(m->key, skip, n_skip) || (s != NULL && named_in(m->key, kept, s->n_fields)))
            continue;
        if (s == NULL) {
            s = (Google__Protobuf__Struct *)pz_arena_new_message(arena, &google__protobuf__struct__descriptor);
            s->fields = pz_arena_calloc(arena, max_fields ? max_fields : 1, sizeof *s->fields);
            kept = pz_arena_calloc(arena, max_fields ? max_fields : 1, sizeof *kept);
        }
        if (s->n_fields == max_fields)
            return -1;
        Google__Protobuf__Struct__FieldsEntry *e = (Google__Protobuf__Struct__FieldsEntry *)pz_arena_new_message(
            arena, &google__protobuf__struct__fields_entry__descriptor);
        e->key = (char *)m->key;
        e->value = value_from_jvalue(m, arena, 1);
        if (e->value == NULL)
            return -1;
        kept[s->n_fields] = m->key;
        s->fields[s->n_fields++] = e;
    }
    *out = s;
    return 0;
}

static json_t *value_to_json(const Google__Protobuf__Value *v)
{
    if (v == NULL)
        return json_null();
    switch (v->kind_case) {
    case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
        if (!isfinite(v->number_value))
            return json_null();
        if (v->number_value == floor(v->number_value) && fabs(v->number_value) < 9007199254740992.0)
            return json_integer((json_int_t)v->number_value);
        return json_real(v->number_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE: return json_string(v->string_value != NULL ? v->string_value : "");
    case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE: return json_boolean(v->bool_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE: return pz_struct_to_json(v->struct_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE: {
        json_t *a = json_array();
        for (size_t i = 0; v->list_value != NULL && i < v->list_value->n_values; i++)
            json_array_append_new(a, value_to_json(v->list_value->values[i]));
        return a;
    }
    default: return json_null();
    }
}

json_t *pz_struct_to_json(const Google__Protobuf__Struct *s)
{
    json_t *o = json_object();
    for (size_t i = 0; s != NULL && i < s->n_fields; i++)
        json_object_set_new(o, s->fields[i]->key, value_to_json(s->fields[i]->value));
    return o;
}
