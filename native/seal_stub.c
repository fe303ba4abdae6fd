/*
 * The sealer's stand-in, compiled when OpenSSL's headers or libzstd are not
 * available at build time (see native/build_native.py).  It reports itself
 * unavailable, and skruntime seals records with the Python codec instead.
 */
#include "skr_native.h"

int skr_seal_available(void)
{
    return 0;
}

skr_sealer *skr_sealer_new(void)
{
    return NULL;
}

void skr_sealer_free(skr_sealer *s)
{
    (void)s;
}

int skr_seal_group(skr_sealer *s, const uint8_t *key, const uint8_t *header, int level,
                   const uint8_t *dbpart, size_t dbpart_len,
                   const uint8_t *keys, const size_t *key_lens,
                   const uint8_t *plains, const size_t *plain_lens, size_t n,
                   uint8_t *out, size_t out_capacity, size_t *out_lens)
{
    (void)s, (void)key, (void)header, (void)level, (void)dbpart, (void)dbpart_len;
    (void)keys, (void)key_lens, (void)plains, (void)plain_lens, (void)n;
    (void)out, (void)out_capacity, (void)out_lens;
    return SKR_SEAL_UNAVAILABLE;
}
