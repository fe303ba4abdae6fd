#include "skr_native.h"

#define SKR_FNV_PRIME 0x100000001b3ULL
#define SKR_SEPARATOR 0x1fU

uint64_t skr_fnv_extend(uint64_t h, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= SKR_FNV_PRIME;
    }
    h ^= SKR_SEPARATOR;
    h *= SKR_FNV_PRIME;
    return h;
}

void skr_fnv_chain(uint64_t h, const uint8_t *data, const size_t *lens, size_t n, uint64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        h = skr_fnv_extend(h, data, lens[i]);
        data += lens[i];
        out[i] = h;
    }
}
