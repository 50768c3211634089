/*
 * embbert-mcu serial protocol: framing, CRC and byte order, shared by every port.
 * Mirrored byte for byte by embbert_mcu/device/protocol.py.
 *
 * Frame (little-endian):
 *   off 0  sync 0xEB 0x42
 *   off 2  type      u8   request type; a reply is type | 0x80, an error is 0x7F
 *   off 3  seq       u8   echoed in the reply so the host can drop stale replies
 *   off 4  len       u16  payload bytes, <= the device's max payload
 *   off 6  payload   len bytes
 *   then   crc       u32  CRC-32 (IEEE, zlib's) of type..payload
 */
#ifndef EMB_PROTO_H
#define EMB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define EMB_PROTO_VERSION 1u
#define EMB_PROTO_SYNC0 0xEBu
#define EMB_PROTO_SYNC1 0x42u
#define EMB_PROTO_HEADER_BYTES 6u
#define EMB_PROTO_CRC_BYTES 4u
#define EMB_PROTO_OVERHEAD (EMB_PROTO_HEADER_BYTES + EMB_PROTO_CRC_BYTES)

/* Request types; the reply to type t is t | EMB_PROTO_REPLY. */
#define EMB_MSG_HELLO 0x01u    /* -> board, model hash, sizes, clock, tick unit */
#define EMB_MSG_INFER 0x02u    /* u16 n, n x u16 ids -> u16 n, u16 classes, u64 ticks, f32 logits */
#define EMB_MSG_STATS 0x03u    /* -> stack peak and size, arena, static buffers, counters */
#define EMB_MSG_STAGES 0x04u   /* -> ticks per stage of the last inference, with names */
#define EMB_MSG_SHUTDOWN 0x05u /* -> empty reply, then the port stops (emulator exit, board reset) */
#define EMB_MSG_ECHO 0x06u     /* payload -> the same payload (link test) */
#define EMB_MSG_TEXT 0x07u     /* UTF-8 text -> u16 n, u16 classes, u64 model ticks, u64
                                  tokenizer ticks, f32 logits, n x u16 ids it used */
#define EMB_PROTO_REPLY 0x80u
#define EMB_MSG_ERROR 0x7Fu /* u8 code, u8 detail, u8 request type */

/* Error codes carried by EMB_MSG_ERROR. */
#define EMB_PE_CRC 1u       /* CRC mismatch */
#define EMB_PE_OVERSIZE 2u  /* len above the device's max payload */
#define EMB_PE_TYPE 3u      /* unknown request type */
#define EMB_PE_LENGTH 4u    /* payload length wrong for the request type */
#define EMB_PE_MODEL 5u     /* the model returned a status; detail = emb_status_t */

/* Tick units reported by HELLO: ticks x tick_scale = this many units. */
#define EMB_TICK_CYCLES 0u
#define EMB_TICK_INSTRUCTIONS 1u
#define EMB_TICK_NANOSECONDS 2u

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
