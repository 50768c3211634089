/* embbert-mcu serial protocol: CRC-32, frame scanning and sealing (see emb_proto.h). */
#include "emb_proto.h"

#include <string.h>

/* CRC-32 (reflected, polynomial 0xEDB88320) a nibble at a time: 64 bytes of table instead
 * of 1 KB, and the same value as zlib.crc32 on the host. */
static const uint32_t emb_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t emb_crc32_update(uint32_t crc, const uint8_t *data, size_t n)
{
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; ++i) {
        crc ^= data[i];
        crc = (crc >> 4) ^ emb_crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ emb_crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

void emb_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

void emb_put_u32(uint8_t *p, uint32_t v)
{
    emb_put_u16(p, (uint16_t)(v & 0xFFFFu));
    emb_put_u16(p + 2, (uint16_t)(v >> 16));
}

void emb_put_u64(uint8_t *p, uint64_t v)
{
    emb_put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    emb_put_u32(p + 4, (uint32_t)(v >> 32));
}

void emb_put_f32(uint8_t *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits); /* the IEEE-754 bits, whatever the alignment of p */
    emb_put_u32(p, bits);
}

uint16_t emb_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t emb_get_u32(const uint8_t *p)
{
    return (uint32_t)emb_get_u16(p) | ((uint32_t)emb_get_u16(p + 2) << 16);
}

/* Noise before a sync is skipped silently; anything that starts with the sync and then
 * fails (length, CRC) is reported and only its first byte dropped, so a frame hidden
 * inside a broken one is still found on the rescan. */
emb_scan_t emb_proto_scan(const uint8_t *buf, size_t fill, size_t max_payload, emb_frame_t *frame,
                          size_t *consumed)
{
    size_t i, total;
    uint32_t crc;

    *consumed = 0;
    if (fill == 0) {
        return EMB_SCAN_NEED_MORE;
    }
    if (buf[EMB_PROTO_HEADER_SYNC0] != EMB_PROTO_SYNC0) {
        for (i = 1; i < fill && buf[i] != EMB_PROTO_SYNC0; ++i) {
        }
        *consumed = i;
        return EMB_SCAN_SKIP;
    }
    if (fill <= (size_t)EMB_PROTO_HEADER_SYNC1) {
        return EMB_SCAN_NEED_MORE;
    }
    if (buf[EMB_PROTO_HEADER_SYNC1] != EMB_PROTO_SYNC1) {
        *consumed = 1;
        return EMB_SCAN_SKIP;
    }
    if (fill < EMB_PROTO_HEADER_BYTES) {
        return EMB_SCAN_NEED_MORE;
    }
    frame->type = buf[EMB_PROTO_HEADER_TYPE];
    frame->seq = buf[EMB_PROTO_HEADER_SEQ];
    frame->len = emb_get_u16(buf + EMB_PROTO_HEADER_LEN);
    frame->payload = buf + EMB_PROTO_HEADER_BYTES;
    frame->error = 0;
    if (frame->len > max_payload) {
        frame->error = EMB_PE_OVERSIZE;
        *consumed = 1;
        return EMB_SCAN_ERROR;
    }
    total = EMB_PROTO_OVERHEAD + (size_t)frame->len;
    if (fill < total) {
        return EMB_SCAN_NEED_MORE;
    }
    crc = emb_crc32_update(0u, buf + EMB_PROTO_CRC_FROM,
                           total - EMB_PROTO_CRC_BYTES - EMB_PROTO_CRC_FROM);
    if (crc != emb_get_u32(buf + total - EMB_PROTO_CRC_BYTES + EMB_PROTO_CRC_CRC32)) {
        frame->error = EMB_PE_CRC;
        *consumed = 1;
        return EMB_SCAN_ERROR;
    }
    *consumed = total;
    return EMB_SCAN_FRAME;
}

size_t emb_proto_seal(uint8_t *out, uint8_t type, uint8_t seq, uint16_t len)
{
    size_t end = EMB_PROTO_HEADER_BYTES + (size_t)len; /* where the CRC goes */
    out[EMB_PROTO_HEADER_SYNC0] = (uint8_t)EMB_PROTO_SYNC0;
    out[EMB_PROTO_HEADER_SYNC1] = (uint8_t)EMB_PROTO_SYNC1;
    out[EMB_PROTO_HEADER_TYPE] = type;
    out[EMB_PROTO_HEADER_SEQ] = seq;
    emb_put_u16(out + EMB_PROTO_HEADER_LEN, len);
    emb_put_u32(out + end + EMB_PROTO_CRC_CRC32,
                emb_crc32_update(0u, out + EMB_PROTO_CRC_FROM, end - EMB_PROTO_CRC_FROM));
    return end + EMB_PROTO_CRC_BYTES;
}
