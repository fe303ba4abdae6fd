/*
 * The record sealer (format 1, docs/STORAGE.md; pure twin:
 * skruntime/store/_codec.py, RecordCodec.seal).
 *
 * Seals a whole group of records of one database in one call, so that the
 * writer thread crosses from Python into C once per database of a group,
 * and cffi runs the call without the GIL.  Keys and plaintexts come
 * concatenated, with their lengths in arrays: the caller builds them with a
 * few C-level joins instead of a Python loop per record.  For each record:
 *
 *   record = header (format byte, key id: 5 bytes)
 *          | nonce (12 bytes from RAND_bytes, OpenSSL's CSPRNG)
 *          | AES-256-GCM(key, nonce, zstd(plain), aad) | tag (16 bytes)
 *   aad    = "skruntime.record.v1" | dbpart | header | record key
 *
 * where dbpart = len(database) (1 byte) | database, prepared by the caller.
 *
 * zstd is the system's libzstd (only its runtime library is needed: the few
 * stable prototypes used are declared below, so zstd.h is not).  Its frames
 * carry the content size and no checksum, like the Python codec's.
 */
#include "skr_native.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* libzstd's stable API (zstd.h, "simple API" and "explicit context"). */
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
ZSTD_CCtx *ZSTD_createCCtx(void);
size_t ZSTD_freeCCtx(ZSTD_CCtx *cctx);
size_t ZSTD_compressCCtx(ZSTD_CCtx *cctx, void *dst, size_t dst_capacity,
                         const void *src, size_t src_size, int level);
size_t ZSTD_compressBound(size_t src_size);
unsigned ZSTD_isError(size_t code);

static const unsigned char AAD_TAG[] = "skruntime.record.v1";
#define AAD_TAG_BYTES (sizeof(AAD_TAG) - 1)
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define HEADER_BYTES 5
#define KEY_BYTES 32
/* Nonces are drawn for this many records at a time. */
#define NONCE_BATCH 256

struct skr_sealer {
    ZSTD_CCtx *zstd;
    EVP_CIPHER *gcm;      /* fetched once: implicit fetches cost ~2 us a call */
    EVP_CIPHER_CTX *aes;  /* keyed with `key` when `keyed` */
    uint8_t key[KEY_BYTES];
    int keyed;
};

int skr_seal_available(void)
{
    return 1;
}

skr_sealer *skr_sealer_new(void)
{
    skr_sealer *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->zstd = ZSTD_createCCtx();
    s->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    s->aes = EVP_CIPHER_CTX_new();
    if (s->zstd == NULL || s->gcm == NULL || s->aes == NULL
        || EVP_EncryptInit_ex(s->aes, s->gcm, NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(s->aes, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) != 1) {
        skr_sealer_free(s);
        return NULL;
    }
    return s;
}

void skr_sealer_free(skr_sealer *s)
{
    if (s == NULL)
        return;
    if (s->zstd != NULL)
        ZSTD_freeCCtx(s->zstd);
    if (s->aes != NULL)
        EVP_CIPHER_CTX_free(s->aes);
    if (s->gcm != NULL)
        EVP_CIPHER_free(s->gcm);
    OPENSSL_cleanse(s->key, sizeof s->key);
    free(s);
}

int skr_seal_group(skr_sealer *s, const uint8_t *key, const uint8_t *header, int level,
                   const uint8_t *dbpart, size_t dbpart_len,
                   const uint8_t *keys, const size_t *key_lens,
                   const uint8_t *plains, const size_t *plain_lens, size_t n,
                   uint8_t *out, size_t out_capacity, size_t *out_lens)
{
    uint8_t nonces[NONCE_BATCH * NONCE_BYTES];
    EVP_CIPHER_CTX *aes = s->aes;
    size_t used = 0;
    int outl = 0;

    if (dbpart_len > INT32_MAX)
        return SKR_SEAL_SPACE;
    /* The key schedule only when the data key changes; each record then
     * sets its nonce. */
    if (!s->keyed || memcmp(s->key, key, KEY_BYTES) != 0) {
        s->keyed = 0;
        if (EVP_EncryptInit_ex(aes, NULL, NULL, key, NULL) != 1)
            return SKR_SEAL_CRYPTO;
        memcpy(s->key, key, KEY_BYTES);
        s->keyed = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *record_key = keys;
        size_t key_len = key_lens[i];
        const uint8_t *plain = plains;
        size_t plain_len = plain_lens[i];
        keys += key_len;
        plains += plain_len;

        size_t bound = ZSTD_compressBound(plain_len);
        if (out_capacity - used < HEADER_BYTES + NONCE_BYTES + bound + TAG_BYTES)
            return SKR_SEAL_SPACE;
        uint8_t *rec = out + used;
        uint8_t *nonce = rec + HEADER_BYTES;
        uint8_t *body = nonce + NONCE_BYTES;

        if (i % NONCE_BATCH == 0) {
            size_t left = n - i < NONCE_BATCH ? n - i : NONCE_BATCH;
            if (RAND_bytes(nonces, (int)(left * NONCE_BYTES)) != 1)
                return SKR_SEAL_RANDOM;
        }
        memcpy(rec, header, HEADER_BYTES);
        memcpy(nonce, nonces + (i % NONCE_BATCH) * NONCE_BYTES, NONCE_BYTES);

        /* Compress straight into the record, then encrypt in place (GCM is
         * a stream mode: output and input may be the same buffer). */
        size_t zlen = ZSTD_compressCCtx(s->zstd, body, bound, plain, plain_len, level);
        if (ZSTD_isError(zlen))
            return SKR_SEAL_ZSTD;
        if (zlen > INT32_MAX || key_len > INT32_MAX)
            return SKR_SEAL_SPACE;
        if (EVP_EncryptInit_ex(aes, NULL, NULL, NULL, nonce) != 1
            || EVP_EncryptUpdate(aes, NULL, &outl, AAD_TAG, (int)AAD_TAG_BYTES) != 1
            || EVP_EncryptUpdate(aes, NULL, &outl, dbpart, (int)dbpart_len) != 1
            || EVP_EncryptUpdate(aes, NULL, &outl, header, HEADER_BYTES) != 1
            || (key_len && EVP_EncryptUpdate(aes, NULL, &outl, record_key, (int)key_len) != 1))
            return SKR_SEAL_CRYPTO;
        int written = 0;
        if (zlen && EVP_EncryptUpdate(aes, body, &written, body, (int)zlen) != 1)
            return SKR_SEAL_CRYPTO;
        if (EVP_EncryptFinal_ex(aes, body + written, &outl) != 1)
            return SKR_SEAL_CRYPTO;
        written += outl;
        if ((size_t)written != zlen
            || EVP_CIPHER_CTX_ctrl(aes, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, body + zlen) != 1)
            return SKR_SEAL_CRYPTO;
        size_t total = HEADER_BYTES + NONCE_BYTES + zlen + TAG_BYTES;
        out_lens[i] = total;
        used += total;
    }
    return SKR_SEAL_OK;
}
