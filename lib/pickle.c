/* Pickle reading (an interpreter that builds plain values, never calling anything) and writing
 * (protocol 2, the subset torch.save emits). See pickle.h. */
#include "yolo/pickle.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_MAX_BYTES = 1 << 30, MAX_TEXT_DIGITS = 4096 };

typedef struct {
    yv_doc *doc;
    const unsigned char *p;
    size_t len, pos, op_at;
    yv **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    yv **memo;
    size_t memo_cap, memo_count;
    yv *storages; /* key -> storage viewed as a 1-D tensor */
    bool storage_data;
} up;

static yolo_status bad(up *u, const char *what) {
    return yolo_error(YOLO_ERR_FORMAT, "bad pickle: %s at offset %zu", what, u->op_at);
}

static yolo_status oom(up *u) {
    if (yv_doc_over_limit(u->doc))
        return yolo_error(YOLO_ERR_LIMIT, "pickle values need more than the memory limit (at offset %zu)",
                          u->op_at);
    return yolo_error(YOLO_ERR_NOMEM, "out of memory reading the pickle");
}

#define NEED(x)                                                                                              \
    do {                                                                                                     \
        if (!(x)) return oom(u);                                                                             \
    } while (0)

static yolo_status take(up *u, size_t n, const unsigned char **out) {
    if (n > u->len - u->pos)
        return yolo_error(YOLO_ERR_FORMAT, "bad pickle: truncated (need %zu bytes at offset %zu, have %zu)",
                          n, u->pos, u->len - u->pos);
    *out = u->p + u->pos;
    u->pos += n;
    return YOLO_OK;
}

static yolo_status take_uint(up *u, int nbytes, uint64_t *v) {
    yolo_status st = YOLO_OK;
    const unsigned char *b = NULL;
    YOLO_TRY(take(u, (size_t)nbytes, &b));
    *v = 0;
    for (int i = 0; i < nbytes; i++)
        *v |= (uint64_t)b[i] << (8 * i);
    return YOLO_OK;
done:
    return st;
}

/* A text argument (protocol 0): bytes up to the next newline, newline excluded. */
static yolo_status take_line(up *u, const char **s, size_t *n) {
    const unsigned char *start = u->p + u->pos;
    const unsigned char *nl = memchr(start, '\n', u->len - u->pos);
    if (!nl) return bad(u, "text argument without a newline");
    *s = (const char *)start;
    *n = (size_t)(nl - start);
    u->pos += *n + 1;
    return YOLO_OK;
}

static yolo_status push(up *u, yv *v) {
    NEED(v);
    if (u->sp == u->scap) {
        size_t cap = u->scap ? u->scap * 2 : 64;
        yv **s = realloc(u->stack, cap * sizeof *s);
        NEED(s);
        u->stack = s;
        u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return YOLO_OK;
}

static size_t mark_base(const up *u) {
    return u->nmarks ? u->marks[u->nmarks - 1] : 0;
}

static yolo_status pop(up *u, yv **v) {
    if (u->sp <= mark_base(u)) return bad(u, "stack underflow");
    *v = u->stack[--u->sp];
    return YOLO_OK;
}

static yolo_status top(up *u, yv **v) {
    if (u->sp <= mark_base(u)) return bad(u, "stack underflow");
    *v = u->stack[u->sp - 1];
    return YOLO_OK;
}

/* Removes the items above the last mark and the mark; *items points at them (valid until next push). */
static yolo_status pop_mark(up *u, yv ***items, size_t *n) {
    if (!u->nmarks) return bad(u, "no MARK on the stack");
    size_t m = u->marks[--u->nmarks];
    *items = u->stack + m;
    *n = u->sp - m;
    u->sp = m;
    return YOLO_OK;
}

static yolo_status memo_put(up *u, uint64_t idx) {
    yv *v;
    if (!u->sp) return bad(u, "PUT on an empty stack");
    v = u->stack[u->sp - 1];
    /* Writers number memo entries 0, 1, 2, ...: an index beyond the input length is hostile. */
    if (idx > u->len)
        return yolo_error(YOLO_ERR_LIMIT, "bad pickle: memo index %llu too large at offset %zu",
                          (unsigned long long)idx, u->op_at);
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx)
            cap *= 2;
        yv **m = realloc(u->memo, cap * sizeof *m);
        NEED(m);
        memset(m + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *m);
        u->memo = m;
        u->memo_cap = cap;
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = v;
    return YOLO_OK;
}

static yolo_status memo_get(up *u, uint64_t idx) {
    if (idx >= u->memo_cap || !u->memo[idx]) return bad(u, "memo key not found");
    return push(u, u->memo[idx]);
}

static yolo_status new_seq(up *u, yv_kind kind, yv **items, size_t n, yv **out) {
    yv *t = kind == YV_LIST    ? yv_new_list(u->doc)
            : kind == YV_TUPLE ? yv_new_tuple(u->doc)
                               : yv_new_set(u->doc);
    NEED(t);
    if (n) {
        t->seq.items = yv_doc_alloc(u->doc, n * sizeof(yv *));
        NEED(t->seq.items);
        memcpy(t->seq.items, items, n * sizeof(yv *));
        t->seq.n = t->seq.cap = n;
    }
    *out = t;
    return YOLO_OK;
}

static yolo_status push_str(up *u, const unsigned char *s, size_t n) {
    /* Not validated as UTF-8: Python itself accepts lone surrogates here (surrogatepass). */
    return push(u, yv_new_strn(u->doc, (const char *)s, n));
}

/* Decimal text (protocol 0 INT/LONG) into an int value of any size. */
static yolo_status push_decimal(up *u, const char *s, size_t n) {
    if (n && s[n - 1] == 'L') n--;
    if (n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1'))
        return push(u, yv_new_bool(u->doc, s[1] == '1'));
    bool neg = false;
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n) return bad(u, "empty integer");
    if (n - i > MAX_TEXT_DIGITS)
        return yolo_error(YOLO_ERR_LIMIT, "bad pickle: integer too long at offset %zu", u->op_at);
    size_t cap = (n - i) / 2 + 2, len = 1;
    unsigned char *mag = calloc(cap, 1);
    NEED(mag);
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            free(mag);
            return bad(u, "bad digit in integer");
        }
        unsigned carry = (unsigned)(s[i] - '0');
        for (size_t j = 0; j < len; j++) {
            unsigned x = mag[j] * 10u + carry;
            mag[j] = (unsigned char)x;
            carry = x >> 8;
        }
        if (carry) mag[len++] = (unsigned char)carry;
    }
    /* Two's complement with one spare byte for the sign. */
    mag[len++] = 0;
    if (neg) {
        unsigned carry = 1;
        for (size_t j = 0; j < len; j++) {
            unsigned x = (unsigned)(unsigned char)~mag[j] + carry;
            mag[j] = (unsigned char)x;
            carry = x >> 8;
        }
    }
    yv *v = yv_new_bigint(u->doc, mag, len);
    free(mag);
    return push(u, v);
}

/* Protocol 0 quoted string ('...' or "...") with backslash escapes, as repr() writes them. */
static yolo_status push_quoted(up *u, const char *s, size_t n) {
    if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0])
        return bad(u, "STRING argument not quoted");
    s++;
    n -= 2;
    char *out = malloc(n + 1);
    NEED(out);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'x':
                if (i + 2 < n) {
                    char hex[3] = {s[i + 1], s[i + 2], 0};
                    c = (char)strtol(hex, NULL, 16);
                    i += 2;
                }
                break;
            default:
                break;
            }
        }
        out[o++] = c;
    }
    /* Python 2 str: text, as torch.load decodes it. */
    yolo_status st = push(u, yv_new_strn(u->doc, out, o));
    free(out);
    return st;
}

/* raw-unicode-escape text (protocol 0 UNICODE): \uXXXX and \UXXXXXXXX escapes, to UTF-8. */
static size_t put_utf8(unsigned char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

static yolo_status push_raw_unicode(up *u, const char *s, size_t n) {
    unsigned char *out = malloc(n * 4 + 1);
    NEED(out);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int digits = 0;
        if (c == '\\' && i + 1 < n && s[i + 1] == 'u') digits = 4;
        if (c == '\\' && i + 1 < n && s[i + 1] == 'U') digits = 8;
        if (digits && i + 1 + (size_t)digits < n) {
            char hex[9] = {0};
            memcpy(hex, s + i + 2, (size_t)digits);
            char *end;
            unsigned long cp = strtoul(hex, &end, 16);
            if (end == hex + digits && cp <= 0x10ffff) {
                o += put_utf8(out + o, (uint32_t)cp);
                i += 1 + (size_t)digits;
                continue;
            }
        }
        o += put_utf8(out + o, c); /* raw bytes are Latin-1 code points */
    }
    yolo_status st = push(u, yv_new_strn(u->doc, (const char *)out, o));
    free(out);
    return st;
}

/* "module\nname\n" to "module.name", with Python 2 module names mapped to Python 3's. */
static yv *new_global(up *u, const char *mod, size_t mn, const char *name, size_t nn) {
    if (mn == 11 && memcmp(mod, "__builtin__", 11) == 0) mod = "builtins", mn = 8;
    if (mn == 8 && memcmp(mod, "copy_reg", 8) == 0) mod = "copyreg", mn = 7;
    char *s = malloc(mn + nn + 2);
    if (!s) return NULL;
    memcpy(s, mod, mn);
    s[mn] = '.';
    memcpy(s + mn + 1, name, nn);
    s[mn + 1 + nn] = 0;
    yv *g = yv_new_global(u->doc, s);
    free(s);
    return g;
}

static bool is_global(const yv *v, const char *name) {
    return v->kind == YV_GLOBAL && strcmp(v->str.s, name) == 0;
}

static bool int_of(const yv *v, int64_t *out) {
    if (v->kind == YV_INT) return *out = v->i, true;
    if (v->kind == YV_BOOL) return *out = v->b, true;
    return false;
}

/* BINPERSID: ('storage', torch.<Type>Storage, key, device, numel). */
static yolo_status persistent_load(up *u, yv *pid, yv **out) {
    yolo_status st = YOLO_OK;
    if (pid->kind != YV_TUPLE || pid->seq.n < 5) return bad(u, "persistent id is not a storage tuple");
    yv **it = pid->seq.items;
    if (!yv_as_str(it[0]) || strcmp(it[0]->str.s, "storage") != 0 || it[1]->kind != YV_GLOBAL ||
        it[2]->kind != YV_STR || it[3]->kind != YV_STR)
        return bad(u, "persistent id is not a storage tuple");
    yv_dtype dt;
    const char *cls = it[1]->str.s;
    if (strcmp(cls, "torch.UntypedStorage") == 0)
        dt = YDT_U8;
    else if (!yv_dtype_from_storage_class(cls, &dt))
        return yolo_error(YOLO_ERR_FORMAT, "bad pickle: unsupported storage type %s at offset %zu", cls,
                          u->op_at);
    int64_t numel;
    if (!int_of(it[4], &numel) || numel < 0 || (uint64_t)numel > (SIZE_MAX / 8))
        return bad(u, "storage size is not a valid count");
    const char *key = it[2]->str.s;
    if (!*key || strlen(key) != it[2]->str.len || strchr(key, '/') || strstr(key, ".."))
        return bad(u, "storage key is not a plain name");
    yv *have = yv_dict_get(u->storages, key);
    if (have) {
        yv_storage *sto = have->tensor.storage;
        if (sto->dtype != dt || sto->numel != numel)
            return bad(u, "storage key reused with another type or size");
        *out = have;
        return YOLO_OK;
    }
    yv_storage *sto = yv_new_storage(u->doc, dt, numel, u->storage_data);
    NEED(sto);
    sto->key = yv_doc_strdup(u->doc, key, strlen(key));
    sto->device = yv_doc_strdup(u->doc, it[3]->str.s, it[3]->str.len);
    NEED(sto->key && sto->device);
    int64_t one = 1;
    yv *t = yv_new_tensor_view(u->doc, sto, dt, 1, &numel, &one, 0);
    NEED(t);
    sto->refs--; /* the storage's own handle is not a user-visible reference */
    YOLO_TRY(yv_dict_set(u->doc, u->storages, key, t));
    *out = t;
    return YOLO_OK;
done:
    return st;
}

static yolo_status int_tuple(up *u, const yv *v, int64_t *out, int *n) {
    if (v->kind != YV_TUPLE && v->kind != YV_LIST) return bad(u, "tensor size/stride is not a tuple");
    if (v->seq.n > YV_MAX_DIMS)
        return yolo_error(YOLO_ERR_LIMIT, "bad pickle: tensor with %zu dimensions (at most %d) at offset %zu",
                          v->seq.n, YV_MAX_DIMS, u->op_at);
    for (size_t i = 0; i < v->seq.n; i++)
        if (!int_of(v->seq.items[i], &out[i]) || out[i] < 0)
            return bad(u, "tensor size/stride is not a count");
    *n = (int)v->seq.n;
    return YOLO_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, ...). */
static yolo_status rebuild_tensor(up *u, const yv *args, yv **out) {
    yolo_status st = YOLO_OK;
    if (args->kind != YV_TUPLE || args->seq.n < 4) return bad(u, "tensor rebuild with too few arguments");
    yv **a = args->seq.items;
    if (a[0]->kind != YV_TENSOR) return bad(u, "tensor rebuild without a storage");
    yv_storage *sto = a[0]->tensor.storage;
    int64_t offset, shape[YV_MAX_DIMS], stride[YV_MAX_DIMS];
    int nd, ns;
    if (!int_of(a[1], &offset) || offset < 0) return bad(u, "tensor offset is not a count");
    YOLO_TRY(int_tuple(u, a[2], shape, &nd));
    YOLO_TRY(int_tuple(u, a[3], stride, &ns));
    if (nd != ns) return bad(u, "tensor size and stride differ in length");
    /* The view must lie inside its storage: last element = offset + sum((size-1)*stride). */
    bool empty = false;
    uint64_t last = (uint64_t)offset;
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 0) empty = true;
        uint64_t span;
        if (shape[d] > 0 && (__builtin_mul_overflow((uint64_t)(shape[d] - 1), (uint64_t)stride[d], &span) ||
                             __builtin_add_overflow(last, span, &last)))
            return bad(u, "tensor view overflows");
    }
    if (empty ? (uint64_t)offset > (uint64_t)sto->numel : last >= (uint64_t)sto->numel)
        return bad(u, "tensor view reaches past the end of its storage");
    /* numel must fit in int64 too. */
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++)
        if (__builtin_mul_overflow(numel, (uint64_t)shape[d], &numel) || numel > INT64_MAX)
            return bad(u, "tensor size overflows");
    yv *t = yv_new_tensor_view(u->doc, sto, sto->dtype, nd, shape, stride, offset);
    NEED(t);
    if (args->seq.n > 4) t->tensor.requires_grad = yv_is_truthy(a[4]);
    *out = t;
    return YOLO_OK;
done:
    return st;
}

static yolo_status latin1_encode(up *u, const yv *s, yv **out) {
    /* str (UTF-8) -> bytes, each code point one byte; Python 2-protocol pickles bytes this way. */
    unsigned char *b = malloc(s->str.len + 1);
    NEED(b);
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s->str.s;
    for (size_t i = 0; i < s->str.len;) {
        unsigned c = p[i];
        if (c < 0x80) {
            b[o++] = (unsigned char)c;
            i++;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < s->str.len && c <= 0xc3) {
            b[o++] = (unsigned char)(((c & 0x1f) << 6) | (p[i + 1] & 0x3f));
            i += 2;
        } else {
            free(b);
            return bad(u, "latin-1 encode of a character above U+00FF");
        }
    }
    *out = yv_new_bytes(u->doc, b, o);
    free(b);
    NEED(*out);
    return YOLO_OK;
}

static yolo_status reduce(up *u, yv *fn, yv *args, int depth, yv **out) {
    yolo_status st = YOLO_OK;
    if (fn->kind != YV_GLOBAL) return bad(u, "REDUCE of something that is not a class or function");
    if (args->kind != YV_TUPLE) return bad(u, "REDUCE arguments are not a tuple");
    const char *f = fn->str.s;
    size_t n = args->seq.n;
    yv **a = args->seq.items;
    if (strcmp(f, "torch._utils._rebuild_tensor_v2") == 0 || strcmp(f, "torch._utils._rebuild_tensor") == 0)
        return rebuild_tensor(u, args, out);
    if (strcmp(f, "torch._utils._rebuild_parameter") == 0 ||
        strcmp(f, "torch._utils._rebuild_parameter_with_state") == 0) {
        if (n < 2 || a[0]->kind != YV_TENSOR) return bad(u, "parameter rebuild without a tensor");
        yv *t = yv_doc_alloc(u->doc, sizeof *t);
        NEED(t);
        *t = *a[0];
        t->tensor.storage->refs++;
        t->tensor.is_parameter = true;
        t->tensor.requires_grad = yv_is_truthy(a[1]);
        *out = t;
        return YOLO_OK;
    }
    if (strcmp(f, "torch._tensor._rebuild_from_type_v2") == 0 && n >= 3 && depth == 0) {
        if (a[2]->kind != YV_TUPLE) return bad(u, "tensor rebuild arguments are not a tuple");
        return reduce(u, a[0], a[2], depth + 1, out);
    }
    if (strcmp(f, "collections.OrderedDict") == 0 || strcmp(f, "builtins.dict") == 0) {
        yv *d = yv_new_dict(u->doc);
        NEED(d);
        d->dict.ordered = f[0] == 'c';
        if (n >= 1 && (a[0]->kind == YV_LIST || a[0]->kind == YV_TUPLE)) {
            for (size_t i = 0; i < a[0]->seq.n; i++) {
                yv *pair = a[0]->seq.items[i];
                if ((pair->kind != YV_LIST && pair->kind != YV_TUPLE) || pair->seq.n != 2)
                    return bad(u, "OrderedDict item is not a pair");
                YOLO_TRY(yv_dict_put(u->doc, d, pair->seq.items[0], pair->seq.items[1]));
            }
        }
        *out = d;
        return YOLO_OK;
    }
    if (strcmp(f, "builtins.set") == 0 || strcmp(f, "builtins.frozenset") == 0) {
        if (n == 0) return new_seq(u, YV_SET, NULL, 0, out);
        if (a[0]->kind != YV_LIST && a[0]->kind != YV_TUPLE && a[0]->kind != YV_SET)
            return bad(u, "set of something that is not a list");
        return new_seq(u, YV_SET, a[0]->seq.items, a[0]->seq.n, out);
    }
    if (strcmp(f, "torch.Size") == 0) {
        if (n == 0) return new_seq(u, YV_TUPLE, NULL, 0, out);
        if (a[0]->kind != YV_LIST && a[0]->kind != YV_TUPLE)
            return bad(u, "torch.Size of something that is not a tuple");
        return new_seq(u, YV_TUPLE, a[0]->seq.items, a[0]->seq.n, out);
    }
    if (strcmp(f, "_codecs.encode") == 0 || strcmp(f, "builtins.bytes") == 0 ||
        strcmp(f, "builtins.bytearray") == 0) {
        if (n == 0) return (*out = yv_new_bytes(u->doc, "", 0)) ? YOLO_OK : oom(u);
        if (a[0]->kind == YV_BYTES)
            return (*out = yv_new_bytes(u->doc, a[0]->str.s, a[0]->str.len)) ? YOLO_OK : oom(u);
        if (a[0]->kind == YV_STR) {
            const char *enc = n >= 2 ? yv_as_str(a[1]) : "utf-8";
            if (enc &&
                (strcmp(enc, "latin1") == 0 || strcmp(enc, "latin-1") == 0 || strcmp(enc, "iso-8859-1") == 0))
                return latin1_encode(u, a[0], out);
            if (enc && (strcmp(enc, "utf-8") == 0 || strcmp(enc, "utf8") == 0))
                return (*out = yv_new_bytes(u->doc, a[0]->str.s, a[0]->str.len)) ? YOLO_OK : oom(u);
        }
    }
    *out = yv_new_object(u->doc, f, args);
    NEED(*out);
    return YOLO_OK;
done:
    return st;
}

/* APPEND(S) / SETITEM(S) / ADDITEMS onto target. */
static yolo_status add_items(up *u, yv *target, yv **items, size_t n, bool pairs) {
    yolo_status st = YOLO_OK;
    if (pairs) {
        if (n % 2) return bad(u, "SETITEMS with an odd number of items");
        if (target->kind == YV_DICT) {
            for (size_t i = 0; i < n; i += 2)
                YOLO_TRY(yv_dict_put(u->doc, target, items[i], items[i + 1]));
            return YOLO_OK;
        }
    } else if (target->kind == YV_LIST || target->kind == YV_SET) {
        for (size_t i = 0; i < n; i++)
            YOLO_TRY(yv_seq_push(u->doc, target, items[i]));
        return YOLO_OK;
    }
    if (target->kind != YV_OBJECT)
        return bad(u, pairs ? "SETITEMS on something that is not a dict"
                            : "APPENDS on something that is not a list");
    if (!target->obj.items) NEED(target->obj.items = yv_new_list(u->doc));
    for (size_t i = 0; i < n; i += pairs ? 2 : 1) {
        yv *it = items[i];
        if (pairs) YOLO_TRY(new_seq(u, YV_TUPLE, items + i, 2, &it));
        YOLO_TRY(yv_seq_push(u->doc, target->obj.items, it));
    }
    return YOLO_OK;
done:
    return st;
}

static yolo_status run(up *u, yv **result) {
    yolo_status st = YOLO_OK;
    yv *a, *b, *c, **items;
    size_t n;
    uint64_t x;
    const unsigned char *q = NULL;
    const char *s;
    for (;;) {
        u->op_at = u->pos;
        if (u->pos >= u->len) return yolo_error(YOLO_ERR_FORMAT, "bad pickle: truncated (no STOP opcode)");
        unsigned op = u->p[u->pos++];
        switch (op) {
        case 0x80: /* PROTO */
            YOLO_TRY(take_uint(u, 1, &x));
            if (x > 5) return bad(u, "unsupported pickle protocol");
            break;
        case 0x95: /* FRAME: a length hint only */
            YOLO_TRY(take_uint(u, 8, &x));
            break;
        case '.': /* STOP */
            YOLO_TRY(pop(u, result));
            return YOLO_OK;
        case '(': /* MARK */
            if (u->nmarks == u->mcap) {
                size_t cap = u->mcap ? u->mcap * 2 : 32;
                size_t *m = realloc(u->marks, cap * sizeof *m);
                NEED(m);
                u->marks = m;
                u->mcap = cap;
            }
            u->marks[u->nmarks++] = u->sp;
            break;
        case '0': /* POP */
            if (u->sp > mark_base(u))
                u->sp--;
            else
                YOLO_TRY(pop_mark(u, &items, &n));
            break;
        case '1':
            YOLO_TRY(pop_mark(u, &items, &n));
            break; /* POP_MARK */
        case '2':
            YOLO_TRY(top(u, &a));
            YOLO_TRY(push(u, a));
            break; /* DUP */
        case 'N':
            YOLO_TRY(push(u, yv_new_none(u->doc)));
            break;
        case 0x88:
            YOLO_TRY(push(u, yv_new_bool(u->doc, true)));
            break;
        case 0x89:
            YOLO_TRY(push(u, yv_new_bool(u->doc, false)));
            break;
        case 'J':
            YOLO_TRY(take_uint(u, 4, &x));
            YOLO_TRY(push(u, yv_new_int(u->doc, (int32_t)(uint32_t)x)));
            break;
        case 'K':
            YOLO_TRY(take_uint(u, 1, &x));
            YOLO_TRY(push(u, yv_new_int(u->doc, (int64_t)x)));
            break;
        case 'M':
            YOLO_TRY(take_uint(u, 2, &x));
            YOLO_TRY(push(u, yv_new_int(u->doc, (int64_t)x)));
            break;
        case 0x8a: /* LONG1 */
        case 0x8b: /* LONG4 */
            YOLO_TRY(take_uint(u, op == 0x8a ? 1 : 4, &x));
            if (op == 0x8b && x > INT32_MAX) return bad(u, "negative LONG4 length");
            YOLO_TRY(take(u, (size_t)x, &q));
            YOLO_TRY(push(u, yv_new_bigint(u->doc, q, (size_t)x)));
            break;
        case 'I': /* INT */
        case 'L': /* LONG */
            YOLO_TRY(take_line(u, &s, &n));
            YOLO_TRY(push_decimal(u, s, n));
            break;
        case 'F': { /* FLOAT */
            YOLO_TRY(take_line(u, &s, &n));
            char buf[64];
            if (n >= sizeof buf) return bad(u, "FLOAT argument too long");
            memcpy(buf, s, n);
            buf[n] = 0;
            char *end;
            double d = strtod(buf, &end);
            if (end == buf) return bad(u, "FLOAT argument is not a number");
            YOLO_TRY(push(u, yv_new_float(u->doc, d)));
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            YOLO_TRY(take(u, 8, &q));
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++)
                bits = bits << 8 | q[i];
            double d;
            memcpy(&d, &bits, sizeof d);
            YOLO_TRY(push(u, yv_new_float(u->doc, d)));
            break;
        }
        case 'S':
            YOLO_TRY(take_line(u, &s, &n));
            YOLO_TRY(push_quoted(u, s, n));
            break;
        case 'V':
            YOLO_TRY(take_line(u, &s, &n));
            YOLO_TRY(push_raw_unicode(u, s, n));
            break;
        case 'T':  /* BINSTRING: Python 2 str, read as text like torch.load does */
        case 'U':  /* SHORT_BINSTRING */
        case 'X':  /* BINUNICODE */
        case 0x8c: /* SHORT_BINUNICODE */
        case 0x8d: /* BINUNICODE8 */
            YOLO_TRY(take_uint(u, op == 'U' || op == 0x8c ? 1 : op == 0x8d ? 8 : 4, &x));
            if (op == 'T' && x > INT32_MAX) return bad(u, "negative BINSTRING length");
            if (x > u->len) return bad(u, "string longer than the pickle");
            YOLO_TRY(take(u, (size_t)x, &q));
            YOLO_TRY(push_str(u, q, (size_t)x));
            break;
        case 'B':  /* BINBYTES */
        case 'C':  /* SHORT_BINBYTES */
        case 0x8e: /* BINBYTES8 */
        case 0x96: /* BYTEARRAY8 */
            YOLO_TRY(take_uint(u, op == 'C' ? 1 : op == 'B' ? 4 : 8, &x));
            if (x > u->len) return bad(u, "bytes longer than the pickle");
            YOLO_TRY(take(u, (size_t)x, &q));
            YOLO_TRY(push(u, yv_new_bytes(u->doc, q, (size_t)x)));
            break;
        case ')':
            YOLO_TRY(push(u, yv_new_tuple(u->doc)));
            break;
        case 't':
            YOLO_TRY(pop_mark(u, &items, &n));
            YOLO_TRY(new_seq(u, YV_TUPLE, items, n, &a));
            YOLO_TRY(push(u, a));
            break;
        case 0x85: /* TUPLE1..3 */
        case 0x86:
        case 0x87:
            n = op - 0x84;
            if (u->sp < mark_base(u) + n) return bad(u, "stack underflow");
            YOLO_TRY(new_seq(u, YV_TUPLE, u->stack + u->sp - n, n, &a));
            u->sp -= n;
            YOLO_TRY(push(u, a));
            break;
        case ']':
            YOLO_TRY(push(u, yv_new_list(u->doc)));
            break;
        case 'l':
            YOLO_TRY(pop_mark(u, &items, &n));
            YOLO_TRY(new_seq(u, YV_LIST, items, n, &a));
            YOLO_TRY(push(u, a));
            break;
        case '}':
            YOLO_TRY(push(u, yv_new_dict(u->doc)));
            break;
        case 0x8f:
            YOLO_TRY(push(u, yv_new_set(u->doc)));
            break; /* EMPTY_SET */
        case 0x91: /* FROZENSET */
            YOLO_TRY(pop_mark(u, &items, &n));
            YOLO_TRY(new_seq(u, YV_SET, items, n, &a));
            YOLO_TRY(push(u, a));
            break;
        case 'd': /* DICT */
            YOLO_TRY(pop_mark(u, &items, &n));
            NEED(a = yv_new_dict(u->doc));
            YOLO_TRY(add_items(u, a, items, n, true));
            YOLO_TRY(push(u, a));
            break;
        case 'a': /* APPEND */
            YOLO_TRY(pop(u, &b));
            YOLO_TRY(top(u, &a));
            YOLO_TRY(add_items(u, a, &b, 1, false));
            break;
        case 's': /* SETITEM */
            if (u->sp < mark_base(u) + 3) return bad(u, "stack underflow");
            YOLO_TRY(add_items(u, u->stack[u->sp - 3], u->stack + u->sp - 2, 2, true));
            u->sp -= 2;
            break;
        case 'e':  /* APPENDS */
        case 'u':  /* SETITEMS */
        case 0x90: /* ADDITEMS */
            YOLO_TRY(pop_mark(u, &items, &n));
            YOLO_TRY(top(u, &a));
            if (op == 0x90 && a->kind != YV_SET) return bad(u, "ADDITEMS on something that is not a set");
            YOLO_TRY(add_items(u, a, items, n, op == 'u'));
            break;
        case 'c': { /* GLOBAL */
            const char *mod;
            size_t mn;
            YOLO_TRY(take_line(u, &mod, &mn));
            YOLO_TRY(take_line(u, &s, &n));
            YOLO_TRY(push(u, new_global(u, mod, mn, s, n)));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            YOLO_TRY(pop(u, &b));
            YOLO_TRY(pop(u, &a));
            if (a->kind != YV_STR || b->kind != YV_STR)
                return bad(u, "STACK_GLOBAL of something that is not a str");
            /* Such names could never be imported, and GLOBAL (which we write) could not spell them. */
            if (memchr(a->str.s, '\n', a->str.len) || memchr(b->str.s, '\n', b->str.len) ||
                strlen(a->str.s) != a->str.len || strlen(b->str.s) != b->str.len)
                return bad(u, "STACK_GLOBAL name with a newline or NUL");
            YOLO_TRY(push(u, new_global(u, a->str.s, a->str.len, b->str.s, b->str.len)));
            break;
        case 'R': /* REDUCE */
            YOLO_TRY(pop(u, &b));
            YOLO_TRY(pop(u, &a));
            YOLO_TRY(reduce(u, a, b, 0, &c));
            YOLO_TRY(push(u, c));
            break;
        case 0x81:                                /* NEWOBJ */
        case 0x92:                                /* NEWOBJ_EX */
            if (op == 0x92) YOLO_TRY(pop(u, &c)); /* kwargs: recorded nowhere, nothing runs */
            YOLO_TRY(pop(u, &b));
            YOLO_TRY(pop(u, &a));
            if (a->kind != YV_GLOBAL) return bad(u, "NEWOBJ of something that is not a class");
            if (b->kind != YV_TUPLE) return bad(u, "NEWOBJ arguments are not a tuple");
            if (is_global(a, "collections.OrderedDict") || is_global(a, "builtins.dict")) {
                NEED(c = yv_new_dict(u->doc));
                c->dict.ordered = a->str.s[0] == 'c';
            } else if (is_global(a, "builtins.list")) {
                NEED(c = yv_new_list(u->doc));
            } else if (is_global(a, "builtins.set")) {
                NEED(c = yv_new_set(u->doc));
            } else {
                NEED(c = yv_new_object(u->doc, a->str.s, b));
                c->obj.newobj = true;
            }
            YOLO_TRY(push(u, c));
            break;
        case 'i': { /* INST: protocol 0 instance */
            const char *mod;
            size_t mn;
            YOLO_TRY(take_line(u, &mod, &mn));
            YOLO_TRY(take_line(u, &s, &n));
            NEED(a = new_global(u, mod, mn, s, n));
            YOLO_TRY(pop_mark(u, &items, &n));
            YOLO_TRY(new_seq(u, YV_TUPLE, items, n, &b));
            NEED(c = yv_new_object(u->doc, a->str.s, b));
            YOLO_TRY(push(u, c));
            break;
        }
        case 'o': /* OBJ */
            YOLO_TRY(pop_mark(u, &items, &n));
            if (n < 1 || items[0]->kind != YV_GLOBAL) return bad(u, "OBJ without a class");
            a = items[0];
            YOLO_TRY(new_seq(u, YV_TUPLE, items + 1, n - 1, &b));
            NEED(c = yv_new_object(u->doc, a->str.s, b));
            YOLO_TRY(push(u, c));
            break;
        case 'b': /* BUILD */
            YOLO_TRY(pop(u, &b));
            YOLO_TRY(top(u, &a));
            /* Tensors and dicts get harmless state (hooks, an OrderedDict's __dict__): dropped. */
            if (a->kind == YV_OBJECT) a->obj.state = b;
            break;
        case 'Q': /* BINPERSID */
            YOLO_TRY(pop(u, &a));
            YOLO_TRY(persistent_load(u, a, &b));
            YOLO_TRY(push(u, b));
            break;
        case 'P':
            return bad(u, "text persistent ids (PERSID) are not torch storages");
        case 'g':   /* GET */
        case 'p': { /* PUT */
            YOLO_TRY(take_line(u, &s, &n));
            char buf[24];
            if (n == 0 || n >= sizeof buf) return bad(u, "bad memo key");
            memcpy(buf, s, n);
            buf[n] = 0;
            char *end;
            errno = 0;
            unsigned long long k = strtoull(buf, &end, 10);
            if (*end || errno || buf[0] == '-') return bad(u, "bad memo key");
            YOLO_TRY(op == 'g' ? memo_get(u, k) : memo_put(u, k));
            break;
        }
        case 'h':
            YOLO_TRY(take_uint(u, 1, &x));
            YOLO_TRY(memo_get(u, x));
            break;
        case 'j':
            YOLO_TRY(take_uint(u, 4, &x));
            YOLO_TRY(memo_get(u, x));
            break;
        case 'q':
            YOLO_TRY(take_uint(u, 1, &x));
            YOLO_TRY(memo_put(u, x));
            break;
        case 'r':
            YOLO_TRY(take_uint(u, 4, &x));
            YOLO_TRY(memo_put(u, x));
            break;
        case 0x94:
            YOLO_TRY(memo_put(u, u->memo_count));
            break; /* MEMOIZE */
        case 0x82: /* EXT1, EXT2, EXT4 */
        case 0x83:
        case 0x84:
            return bad(u, "extension registry codes (EXT*) are not supported");
        case 0x97: /* NEXT_BUFFER, READONLY_BUFFER */
        case 0x98:
            return bad(u, "out-of-band buffers are not supported");
        default:
            return yolo_error(YOLO_ERR_FORMAT, "unknown pickle opcode 0x%02x at offset %zu", op, u->op_at);
        }
    }
done:
    return st;
}

yolo_status pickle_load(yv_doc *doc, const void *data, size_t len, const pickle_opts *opts, yv **out) {
    up u = {.doc = doc, .p = data, .len = len};
    u.storage_data = opts && opts->storage_data;
    size_t cap = opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES;
    yv_doc_set_limit(doc, yv_doc_bytes(doc) + cap);
    yolo_status st;
    u.storages = yv_new_dict(doc);
    if (!u.storages)
        st = oom(&u);
    else
        st = run(&u, out);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    /* The bound is for hostile input only: what the caller adds to the doc afterwards is not capped. */
    yv_doc_set_limit(doc, 0);
    return st;
}

/* ---- writing ---- */

enum { MAX_WRITE_DEPTH = 200, BATCH = 1000 };

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    bool failed, bad_name;
    pickle_storage_key_fn key_of;
    void *ctx;
    /* Memo of values already written (pointer -> memo index), as Python's pickler keeps one: a value
     * referenced twice is written once, so shared structure stays shared and cannot blow up. */
    const yv **memo_keys;
    uint32_t *memo_idx;
    size_t memo_cap, memo_n;
} wr;

static size_t ptr_slot(const void *p, size_t cap) {
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

static bool memo_find(const wr *w, const yv *v, uint32_t *idx) {
    if (!w->memo_cap) return false;
    for (size_t s = ptr_slot(v, w->memo_cap); w->memo_keys[s]; s = (s + 1) & (w->memo_cap - 1))
        if (w->memo_keys[s] == v) {
            *idx = w->memo_idx[s];
            return true;
        }
    return false;
}

static void w_bytes(wr *w, const void *p, size_t n) {
    if (w->failed) return;
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 4096;
        while (n > cap - w->len) {
            if (cap > SIZE_MAX / 2) {
                w->failed = true;
                return;
            }
            cap *= 2;
        }
        unsigned char *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void w_op(wr *w, unsigned char op) {
    w_bytes(w, &op, 1);
}

static void w_le(wr *w, uint64_t v, int n) {
    unsigned char b[8];
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, (size_t)n);
}

static void w_int(wr *w, int64_t i) {
    if (i >= 0 && i < 256) {
        w_op(w, 'K');
        w_le(w, (uint64_t)i, 1);
    } else if (i >= 0 && i < 65536) {
        w_op(w, 'M');
        w_le(w, (uint64_t)i, 2);
    } else if (i >= INT32_MIN && i <= INT32_MAX) {
        w_op(w, 'J');
        w_le(w, (uint64_t)i, 4);
    } else {
        /* LONG1: minimal little-endian two's complement, as Python writes it. */
        unsigned char b[8];
        uint64_t u = (uint64_t)i;
        int n = 8;
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(u >> (8 * k));
        while (n > 1 && ((b[n - 1] == 0 && !(b[n - 2] & 0x80)) || (b[n - 1] == 0xff && (b[n - 2] & 0x80))))
            n--;
        w_op(w, 0x8a);
        w_le(w, (uint64_t)n, 1);
        w_bytes(w, b, (size_t)n);
    }
}

static void w_str(wr *w, const char *s, size_t n) {
    w_op(w, 'X');
    w_le(w, n, 4);
    w_bytes(w, s, n);
}

/* Records v in the memo and writes the PUT for it. */
static void w_memoize(wr *w, const yv *v) {
    if (w->failed) return;
    if ((w->memo_n + 1) * 2 > w->memo_cap) {
        size_t cap = w->memo_cap ? w->memo_cap * 2 : 256;
        const yv **keys = calloc(cap, sizeof *keys);
        uint32_t *idx = calloc(cap, sizeof *idx);
        if (!keys || !idx) {
            free(keys);
            free(idx);
            w->failed = true;
            return;
        }
        for (size_t i = 0; i < w->memo_cap; i++) {
            if (!w->memo_keys[i]) continue;
            size_t s = ptr_slot(w->memo_keys[i], cap);
            while (keys[s])
                s = (s + 1) & (cap - 1);
            keys[s] = w->memo_keys[i];
            idx[s] = w->memo_idx[i];
        }
        free(w->memo_keys);
        free(w->memo_idx);
        w->memo_keys = keys;
        w->memo_idx = idx;
        w->memo_cap = cap;
    }
    size_t s = ptr_slot(v, w->memo_cap);
    while (w->memo_keys[s])
        s = (s + 1) & (w->memo_cap - 1);
    w->memo_keys[s] = v;
    w->memo_idx[s] = (uint32_t)w->memo_n;
    if (w->memo_n < 256) {
        w_op(w, 'q');
        w_le(w, w->memo_n, 1);
    } else {
        w_op(w, 'r');
        w_le(w, w->memo_n, 4);
    }
    w->memo_n++;
}

static void w_global(wr *w, const char *dotted) {
    if (strchr(dotted, '\n')) {
        w->bad_name = true;
        return;
    }
    const char *dot = strrchr(dotted, '.');
    size_t mn = dot ? (size_t)(dot - dotted) : 0;
    const char *name = dot ? dot + 1 : dotted;
    w_op(w, 'c');
    /* Protocol 2 readers expect Python 2 module names (Python's fix_imports does the same). */
    if (mn == 8 && memcmp(dotted, "builtins", 8) == 0)
        w_bytes(w, "__builtin__", 11);
    else if (mn == 7 && memcmp(dotted, "copyreg", 7) == 0)
        w_bytes(w, "copy_reg", 8);
    else
        w_bytes(w, dotted, mn);
    w_op(w, '\n');
    w_bytes(w, name, strlen(name));
    w_op(w, '\n');
}

static void w_empty_ordered_dict(wr *w) {
    w_global(w, "collections.OrderedDict");
    w_op(w, ')');
    w_op(w, 'R');
}

static yolo_status w_value(wr *w, const yv *v, int depth);

static yolo_status w_items(wr *w, yv **items, size_t n, int depth) {
    yolo_status st = YOLO_OK;
    for (size_t i = 0; i < n; i++)
        YOLO_TRY(w_value(w, items[i], depth + 1));
    return YOLO_OK;
done:
    return st;
}

/* Batches of MARK ... op, with a single-item form, the way Python's pickler writes containers. */
static yolo_status w_batched(wr *w, yv **a, yv **b, size_t n, unsigned char one, unsigned char many,
                             int depth) {
    yolo_status st = YOLO_OK;
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        if (k > 1) w_op(w, '(');
        for (size_t j = i; j < i + k; j++) {
            YOLO_TRY(w_value(w, a[j], depth + 1));
            if (b) YOLO_TRY(w_value(w, b[j], depth + 1));
        }
        w_op(w, k > 1 ? many : one);
    }
    return YOLO_OK;
done:
    return st;
}

static yolo_status w_tuple(wr *w, yv **items, size_t n, int depth) {
    yolo_status st = YOLO_OK;
    if (n == 0) {
        w_op(w, ')');
        return YOLO_OK;
    }
    if (n > 3) w_op(w, '(');
    YOLO_TRY(w_items(w, items, n, depth));
    w_op(w, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
    return YOLO_OK;
done:
    return st;
}

static yolo_status w_tensor(wr *w, const yv_tensor *t) {
    yv_storage *st = t->storage;
    if (!st) return yolo_error(YOLO_ERR_USAGE, "tensor without a storage");
    const char *key = w->key_of ? w->key_of(st, w->ctx) : st->key;
    if (!key) return yolo_error(YOLO_ERR_NOMEM, "out of memory naming storages");
    if (t->is_parameter) w_global(w, "torch._utils._rebuild_parameter");
    w_global(w, "torch._utils._rebuild_tensor_v2");
    w_op(w, '(');
    w_op(w, '(');
    w_str(w, "storage", 7);
    char cls[64];
    snprintf(cls, sizeof cls, "torch.%s", yv_dtype_storage_class(st->dtype));
    w_global(w, cls);
    w_str(w, key, strlen(key));
    const char *dev = st->device && *st->device ? st->device : "cpu";
    w_str(w, dev, strlen(dev));
    w_int(w, st->numel);
    w_op(w, 't');
    w_op(w, 'Q');
    w_int(w, t->offset);
    for (int pass = 0; pass < 2; pass++) {
        const int64_t *d = pass ? t->stride : t->shape;
        if (t->ndim == 0) {
            w_op(w, ')');
            continue;
        }
        if (t->ndim > 3) w_op(w, '(');
        for (int i = 0; i < t->ndim; i++)
            w_int(w, d[i]);
        w_op(w, t->ndim == 1 ? 0x85 : t->ndim == 2 ? 0x86 : t->ndim == 3 ? 0x87 : 't');
    }
    w_op(w, t->is_parameter ? 0x89 : t->requires_grad ? 0x88 : 0x89);
    w_empty_ordered_dict(w);
    w_op(w, 't');
    w_op(w, 'R');
    if (t->is_parameter) {
        w_op(w, t->requires_grad ? 0x88 : 0x89);
        w_empty_ordered_dict(w);
        w_op(w, 0x87);
        w_op(w, 'R');
    }
    return YOLO_OK;
}

static yolo_status w_value(wr *w, const yv *v, int depth) {
    yolo_status st = YOLO_OK;
    if (depth > MAX_WRITE_DEPTH)
        return yolo_error(YOLO_ERR_LIMIT, "values nested more than %d deep (or containing themselves)",
                          MAX_WRITE_DEPTH);
    if (!v) return yolo_error(YOLO_ERR_USAGE, "NULL value");
    uint32_t idx;
    if (memo_find(w, v, &idx)) {
        if (idx < 256) {
            w_op(w, 'h');
            w_le(w, idx, 1);
        } else {
            w_op(w, 'j');
            w_le(w, idx, 4);
        }
        return YOLO_OK;
    }
    switch (v->kind) {
    case YV_NONE:
        w_op(w, 'N');
        break;
    case YV_BOOL:
        w_op(w, v->b ? 0x88 : 0x89);
        break;
    case YV_INT:
        w_int(w, v->i);
        break;
    case YV_BIGINT:
        if (v->str.len < 256) {
            w_op(w, 0x8a);
            w_le(w, v->str.len, 1);
        } else {
            w_op(w, 0x8b);
            w_le(w, v->str.len, 4);
        }
        w_bytes(w, v->str.s, v->str.len);
        if (v->str.len > 16) w_memoize(w, v);
        break;
    case YV_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->f, sizeof bits);
        unsigned char b[9] = {'G'};
        for (int i = 0; i < 8; i++)
            b[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
        w_bytes(w, b, 9);
        break;
    }
    case YV_STR:
        w_str(w, v->str.s, v->str.len);
        /* Long strings are memoized too, so that many references to one cannot blow up the output. */
        if (v->str.len > 16) w_memoize(w, v);
        break;
    case YV_BYTES:
        /* Protocol 2 has no bytes opcode: Python writes _codecs.encode(latin-1 text, 'latin1'). */
        if (v->str.len == 0) {
            w_global(w, "builtins.bytes");
            w_op(w, ')');
        } else {
            w_global(w, "_codecs.encode");
            size_t n = 0;
            for (size_t i = 0; i < v->str.len; i++)
                n += (unsigned char)v->str.s[i] < 0x80 ? 1 : 2;
            w_op(w, 'X');
            w_le(w, n, 4);
            for (size_t i = 0; i < v->str.len; i++) {
                unsigned char c = (unsigned char)v->str.s[i];
                if (c < 0x80) {
                    w_op(w, c);
                } else {
                    w_op(w, (unsigned char)(0xc0 | c >> 6));
                    w_op(w, (unsigned char)(0x80 | (c & 0x3f)));
                }
            }
            w_str(w, "latin1", 6);
            w_op(w, 0x86);
        }
        w_op(w, 'R');
        if (v->str.len > 16) w_memoize(w, v);
        break;
    case YV_GLOBAL:
        w_global(w, v->str.s);
        break;
    case YV_LIST:
        w_op(w, ']');
        w_memoize(w, v);
        YOLO_TRY(w_batched(w, v->seq.items, NULL, v->seq.n, 'a', 'e', depth));
        break;
    case YV_TUPLE:
        YOLO_TRY(w_tuple(w, v->seq.items, v->seq.n, depth));
        w_memoize(w, v);
        break;
    case YV_SET:
        w_global(w, "builtins.set");
        w_op(w, ']');
        YOLO_TRY(w_batched(w, v->seq.items, NULL, v->seq.n, 'a', 'e', depth));
        w_op(w, 0x85);
        w_op(w, 'R');
        w_memoize(w, v);
        break;
    case YV_DICT:
        if (v->dict.ordered)
            w_empty_ordered_dict(w);
        else
            w_op(w, '}');
        w_memoize(w, v);
        YOLO_TRY(w_batched(w, v->dict.keys, v->dict.vals, v->dict.n, 's', 'u', depth));
        break;
    case YV_TENSOR:
        YOLO_TRY(w_tensor(w, &v->tensor));
        w_memoize(w, v);
        break;
    case YV_OBJECT: {
        w_global(w, v->obj.cls);
        const yv *args = v->obj.args;
        if (args && args->kind == YV_TUPLE)
            YOLO_TRY(w_tuple(w, args->seq.items, args->seq.n, depth));
        else if (args)
            return yolo_error(YOLO_ERR_USAGE, "object %s has arguments that are not a tuple", v->obj.cls);
        else
            w_op(w, ')');
        w_op(w, v->obj.newobj ? 0x81 : 'R');
        w_memoize(w, v);
        const yv *it = v->obj.items;
        if (it && it->kind == YV_LIST && it->seq.n) {
            bool pairs = true;
            for (size_t i = 0; i < it->seq.n; i++)
                if (it->seq.items[i]->kind != YV_TUPLE || it->seq.items[i]->seq.n != 2) pairs = false;
            if (pairs) {
                for (size_t i = 0; i < it->seq.n; i++) {
                    YOLO_TRY(w_items(w, it->seq.items[i]->seq.items, 2, depth));
                    w_op(w, 's');
                }
            } else {
                YOLO_TRY(w_batched(w, it->seq.items, NULL, it->seq.n, 'a', 'e', depth));
            }
        }
        if (v->obj.state) {
            YOLO_TRY(w_value(w, v->obj.state, depth + 1));
            w_op(w, 'b');
        }
        break;
    }
    }
    return YOLO_OK;
done:
    return st;
}

yolo_status pickle_dump(const yv *v, pickle_storage_key_fn key_of, void *ctx, unsigned char **out,
                        size_t *out_len) {
    wr w = {.key_of = key_of, .ctx = ctx};
    w_op(&w, 0x80);
    w_op(&w, 2);
    yolo_status st = w_value(&w, v, 0);
    w_op(&w, '.');
    free(w.memo_keys);
    free(w.memo_idx);
    if (!st && w.failed) st = yolo_error(YOLO_ERR_NOMEM, "out of memory writing the pickle");
    if (!st && w.bad_name) st = yolo_error(YOLO_ERR_USAGE, "a class or function name contains a newline");
    if (st) {
        free(w.buf);
        return st;
    }
    *out = w.buf;
    *out_len = w.len;
    return YOLO_OK;
}
