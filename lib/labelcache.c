#include "labelcache.h"

#include "yolo/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CACHE_BYTES ((size_t)1 << 31)

void labelcache_entries_free(labelcache_entry *e, int64_t n) {
    if (!e) return;
    for (int64_t i = 0; i < n; i++) {
        free(e[i].msg);
        sample_free(&e[i].lab);
    }
    free(e);
}

static void pack_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Same-folder temporary file, fsync, rename, fsync of the folder: a reader sees the old cache or the new
 * one, never half of one, even after a crash. */
static yolo_status write_atomic(const char *path, const void *data, size_t len) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return yolo_nomem();
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        yolo_status st = yolo_error(YOLO_ERR_IO, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
    int err = left ? errno : 0;
    if (!err && fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        yolo_status st = yolo_error(YOLO_ERR_IO, "%s: %s", path, strerror(err ? err : EIO));
        free(tmp);
        return st;
    }
    free(tmp);
    char *dir = strdup(path);
    if (dir) {
        char *sl = strrchr(dir, '/');
        if (sl)
            *(sl == dir ? sl + 1 : sl) = 0;
        else
            strcpy(dir, ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return YOLO_OK;
}

yolo_status labelcache_write(const char *path, uint64_t hash, const labelcache_entry *e, int64_t n) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "version"), pack_str(&pk, LABELCACHE_VERSION);
    pack_str(&pk, "hash"), msgpack_pack_uint64(&pk, hash);
    pack_str(&pk, "n"), msgpack_pack_int64(&pk, n);
    pack_str(&pk, "items");
    msgpack_pack_array(&pk, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const labelcache_entry *it = &e[i];
        const sample *s = &it->lab;
        msgpack_pack_array(&pk, 7);
        msgpack_pack_int(&pk, it->h);
        msgpack_pack_int(&pk, it->w);
        msgpack_pack_int(&pk, it->code);
        if (it->msg)
            pack_str(&pk, it->msg);
        else
            msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, (size_t)s->n);
        for (int k = 0; k < s->n; k++)
            msgpack_pack_int(&pk, s->cls[k]);
        msgpack_pack_array(&pk, (size_t)s->n * 4);
        for (int k = 0; k < s->n * 4; k++)
            msgpack_pack_float(&pk, s->boxes[k]);
        if (!s->seg_start)
            msgpack_pack_nil(&pk);
        else
            stream_pack_polygons(&pk, s);
    }
    yolo_status st = sb.data ? write_atomic(path, sb.data, sb.size) : yolo_nomem();
    msgpack_sbuffer_destroy(&sb);
    return st;
}

static bool obj_int(const msgpack_object *o, int64_t *v) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX) return false;
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

static bool obj_float(const msgpack_object *o, float *v) {
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) {
        *v = (float)o->via.f64;
        return true;
    }
    return false;
}

static bool obj_key(const msgpack_object *o, const char *k) {
    size_t n = strlen(k);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, k, n) == 0;
}

static bool parse_item(const msgpack_object *o, labelcache_entry *e) {
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 7) return false;
    const msgpack_object *a = o->via.array.ptr;
    int64_t h, w, code;
    if (!obj_int(&a[0], &h) || !obj_int(&a[1], &w) || !obj_int(&a[2], &code)) return false;
    if (h < 0 || w < 0 || h > 1 << 20 || w > 1 << 20 || code < 0 || code > LABELCACHE_CORRUPT) return false;
    e->h = (int)h, e->w = (int)w, e->code = (int)code;
    if (a[3].type == MSGPACK_OBJECT_STR) {
        e->msg = strndup(a[3].via.str.ptr, a[3].via.str.size);
        if (!e->msg) return false;
    } else if (a[3].type != MSGPACK_OBJECT_NIL)
        return false;
    if (a[4].type != MSGPACK_OBJECT_ARRAY || a[5].type != MSGPACK_OBJECT_ARRAY) return false;
    uint32_t n = a[4].via.array.size;
    if (a[5].via.array.size != 4 * (uint64_t)n) return false;
    bool seg = a[6].type == MSGPACK_OBJECT_ARRAY;
    if (!seg && a[6].type != MSGPACK_OBJECT_NIL) return false;
    if (seg && a[6].via.array.size != n) return false;
    float *xy = NULL;
    bool ok = true;
    for (uint32_t k = 0; k < n && ok; k++) {
        int64_t c;
        float box[4];
        if (!obj_int(&a[4].via.array.ptr[k], &c) || c < 0 || c > INT32_MAX) {
            ok = false;
            break;
        }
        for (int q = 0; q < 4 && ok; q++)
            ok = obj_float(&a[5].via.array.ptr[4 * k + q], &box[q]);
        if (!ok) break;
        int np = 0;
        if (seg) {
            const msgpack_object *p = &a[6].via.array.ptr[k];
            if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size % 2 || p->via.array.size == 0) {
                ok = false;
                break;
            }
            np = (int)(p->via.array.size / 2);
            float *nx = realloc(xy, sizeof *xy * 2 * (size_t)np);
            if (!nx) {
                ok = false;
                break;
            }
            xy = nx;
            for (int q = 0; q < 2 * np && ok; q++)
                ok = obj_float(&p->via.array.ptr[q], &xy[q]);
            if (!ok) break;
        }
        if (sample_add(&e->lab, (int)c, box, seg ? xy : NULL, np)) ok = false;
    }
    free(xy);
    if (ok && seg && n == 0) {
        e->lab.seg_start = calloc(1, sizeof *e->lab.seg_start);
        ok = e->lab.seg_start != NULL;
    }
    return ok;
}

/* msgpack-c allocates for a container's declared size before it looks at the data, so a damaged cache
 * could ask for gigabytes: first check that every declared size fits in the bytes that are left. */
static bool msgpack_plausible(const uint8_t *p, size_t len) {
    size_t pending = 1, i = 0; /* values still to read */
    while (pending) {
        if (i >= len) return false;
        uint8_t t = p[i++];
        pending--;
        uint64_t n = 0, skip = 0;
        int ln = 0, kind = 0; /* 1 array, 2 map */
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) continue;
        if ((t & 0xf0) == 0x80)
            kind = 2, n = t & 0x0f;
        else if ((t & 0xf0) == 0x90)
            kind = 1, n = t & 0x0f;
        else if ((t & 0xe0) == 0xa0)
            skip = t & 0x1f;
        else
            switch (t) {
            case 0xc4:
            case 0xd9:
                ln = 1;
                break;
            case 0xc5:
            case 0xda:
                ln = 2;
                break;
            case 0xc6:
            case 0xdb:
                ln = 4;
                break;
            case 0xca:
                skip = 4;
                break;
            case 0xcb:
                skip = 8;
                break;
            case 0xcc:
            case 0xd0:
                skip = 1;
                break;
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xce:
            case 0xd2:
                skip = 4;
                break;
            case 0xcf:
            case 0xd3:
                skip = 8;
                break;
            case 0xdc:
                kind = 1, ln = 2;
                break;
            case 0xdd:
                kind = 1, ln = 4;
                break;
            case 0xde:
                kind = 2, ln = 2;
                break;
            case 0xdf:
                kind = 2, ln = 4;
                break;
            default:
                return false; /* ext types are never written */
            }
        if (ln) {
            if (len - i < (size_t)ln) return false;
            for (int k = 0; k < ln; k++)
                n = n << 8 | p[i + k];
            i += (size_t)ln;
            if (!kind) skip = n, n = 0;
        }
        if (skip > len - i) return false;
        i += skip;
        if (kind) {
            uint64_t items = kind == 2 ? 2 * n : n;
            if (items > len - i) return false;
            pending += items;
        }
    }
    return true;
}

yolo_status labelcache_parse(const uint8_t *buf, size_t len, uint64_t hash, int64_t n, labelcache_entry **out,
                             char *note, size_t note_cap) {
    *out = NULL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    labelcache_entry *ents = NULL;
    const char *why = NULL;
    if (!msgpack_plausible(buf, len) ||
        msgpack_unpack_next(&u, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        why = "damaged cache";
        goto done;
    }
    const msgpack_object *items = NULL;
    bool version_ok = false, hash_ok = false, n_ok = false;
    for (uint32_t k = 0; k < u.data.via.map.size; k++) {
        const msgpack_object *key = &u.data.via.map.ptr[k].key, *val = &u.data.via.map.ptr[k].val;
        if (obj_key(key, "version"))
            version_ok = obj_key(val, LABELCACHE_VERSION);
        else if (obj_key(key, "hash"))
            hash_ok = val->type == MSGPACK_OBJECT_POSITIVE_INTEGER && val->via.u64 == hash;
        else if (obj_key(key, "n")) {
            int64_t v;
            n_ok = obj_int(val, &v) && v == n;
        } else if (obj_key(key, "items"))
            items = val;
    }
    if (!version_ok) {
        why = "cache from another version";
        goto done;
    }
    if (!hash_ok || !n_ok) {
        why = "stale cache (images or labels changed)";
        goto done;
    }
    if (!items || items->type != MSGPACK_OBJECT_ARRAY || items->via.array.size != (uint64_t)n) {
        why = "damaged cache";
        goto done;
    }
    ents = calloc((size_t)n + 1, sizeof *ents);
    if (!ents) {
        msgpack_unpacked_destroy(&u);
        return yolo_nomem();
    }
    for (int64_t i = 0; i < n; i++)
        sample_init(&ents[i].lab);
    for (int64_t i = 0; i < n; i++)
        if (!parse_item(&items->via.array.ptr[i], &ents[i])) {
            why = "damaged cache";
            labelcache_entries_free(ents, n);
            ents = NULL;
            goto done;
        }
done:
    msgpack_unpacked_destroy(&u);
    if (why && note_cap) snprintf(note, note_cap, "%s, rebuilt", why);
    *out = ents;
    return YOLO_OK;
}

yolo_status labelcache_read(const char *path, uint64_t hash, int64_t n, labelcache_entry **out, char *note,
                            size_t note_cap) {
    *out = NULL;
    if (note_cap) note[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return YOLO_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || (size_t)sb.st_size > MAX_CACHE_BYTES) {
        fclose(f);
        if (note_cap) snprintf(note, note_cap, "unreadable cache, rebuilt");
        return YOLO_OK;
    }
    size_t len = (size_t)sb.st_size;
    uint8_t *buf = malloc(len + 1);
    if (!buf) {
        fclose(f);
        return yolo_nomem();
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    yolo_status st = YOLO_OK;
    if (got != len) {
        if (note_cap) snprintf(note, note_cap, "unreadable cache, rebuilt");
    } else
        st = labelcache_parse(buf, len, hash, n, out, note, note_cap);
    free(buf);
    return st;
}
