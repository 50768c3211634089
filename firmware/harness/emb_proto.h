/*
 * embbert-mcu serial protocol: framing, CRC and byte order, shared by every port.
 * The codes and every message's layout (EMB_PROTO_HEADER_*, EMB_HELLO_*, ...) are in
 * emb_contract.h, the one place embbert_mcu/device/protocol.py also reads them from.
 *
 * Frame (little-endian): sync 0xEB 0x42, type u8 (a reply is type | 0x80, an error 0x7F),
 * seq u8 (echoed so the host can drop stale replies), len u16 (<= the device's max payload),
 * the payload, then the CRC-32 (IEEE, zlib's) of type..payload.
 */
#ifndef EMB_PROTO_H
#define EMB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "emb_contract.h"

#define EMB_PROTO_OVERHEAD (EMB_PROTO_HEADER_BYTES + EMB_PROTO_CRC_BYTES)
#define EMB_PROTO_CRC_FROM ((size_t)EMB_PROTO_HEADER_TYPE) /* the CRC covers type..payload */

typedef enum {
    EMB_SCAN_NEED_MORE = 0, /* keep reading */
    EMB_SCAN_SKIP = 1,      /* drop `consumed` bytes of noise before a sync */
    EMB_SCAN_FRAME = 2,     /* a valid frame at offset 0, `consumed` bytes long */
    EMB_SCAN_ERROR = 3      /* a bad frame at offset 0: reply, drop `consumed` (1) and rescan */
} emb_scan_t;

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t len;
    const uint8_t *payload;
    uint8_t error; /* EMB_PE_* when the scan returned EMB_SCAN_ERROR */
} emb_frame_t;

uint32_t emb_crc32_update(uint32_t crc, const uint8_t *data, size_t n);

/* Look at buf[0..fill) for one frame whose payload is at most max_payload bytes. */
emb_scan_t emb_proto_scan(const uint8_t *buf, size_t fill, size_t max_payload, emb_frame_t *frame,
                          size_t *consumed);

/* Write header and CRC around a payload already at out[EMB_PROTO_HEADER_BYTES..]; returns
 * the frame's size in bytes. */
size_t emb_proto_seal(uint8_t *out, uint8_t type, uint8_t seq, uint16_t len);

/* Little-endian stores and loads, independent of the host's byte order and alignment. */
void emb_put_u16(uint8_t *p, uint16_t v);
void emb_put_u32(uint8_t *p, uint32_t v);
void emb_put_u64(uint8_t *p, uint64_t v);
void emb_put_f32(uint8_t *p, float v);
uint16_t emb_get_u16(const uint8_t *p);
uint32_t emb_get_u32(const uint8_t *p);

#endif /* EMB_PROTO_H */
