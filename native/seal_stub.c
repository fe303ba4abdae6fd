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

int skr_seal_many(skr_sealer *s, const uint8_t *key, const uint8_t *header, int level,
                  const uint8_t *in, size_t *lens, size_t n,
                  uint8_t *out, size_t out_capacity)
{
    (void)s, (void)key, (void)header, (void)level, (void)in, (void)lens, (void)n;
    (void)out, (void)out_capacity;
    return SKR_SEAL_UNAVAILABLE;
}
