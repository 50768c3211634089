/*
 * embbert-mcu contract between the C and Python: the single source of every status code,
 * tensor encoding id, protocol code and protocol message layout.
 *
 * embbert_mcu/contract.py parses this file at import time, so Python never holds a second
 * copy: edit a value here and both sides follow. It lives with the runtime because the
 * runtime's emb_status_t and emb_encoding_t are part of it and the export ships
 * firmware/runtime/ alone; the harness (firmware/harness/) is built against an export's src/
 * and finds it there.
 *
 * Tables are X-macros the parser reads line by line, so keep one entry a line:
 *   EMB_<TABLE>_CODES(X):  X(NAME, value, "what it means")
 *   EMB_<MSG>_LAYOUT(X):   X(MSG, FIELD, wire type, byte offset), with EMB_<MSG>_BYTES the
 *                          size of the fixed part. Every layout is little-endian and packed;
 *                          EMB_WIRE_LAYOUT asserts each field's offset and the total, so an
 *                          edit that moves, resizes or reorders a field fails to compile.
 */
#ifndef EMB_CONTRACT_H
#define EMB_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#define EMB_STATIC_ASSERT(cond, name) typedef char emb_static_assert_##name[(cond) ? 1 : -1]

#define EMB_CODE_ENUM(name, value, what) name = value,

/* ---- runtime ---- */

/* emb_status_t: what a model, kernel or tokenizer call returns. */
#define EMB_STATUS_CODES(X)                                                                        \
    X(EMB_OK, 0, "ok")                                                                             \
    X(EMB_ERR_ARG, 1, "a NULL pointer or an unsupported tensor encoding")                          \
    X(EMB_ERR_LENGTH, 2, "n == 0 or n > max_len")                                                  \
    X(EMB_ERR_TOKEN, 3, "a token id >= vocab_size or [PAD]")                                       \
    X(EMB_ERR_ARENA, 4, "arena too small or misaligned")
typedef enum { EMB_STATUS_CODES(EMB_CODE_ENUM) } emb_status_t;

/* emb_encoding_t: how a constant tensor is stored (emb_qtensor_t.encoding); Python names an
 * encoding by the id's suffix in lower case (EMB_QT_MIXED: "mixed"). */
#define EMB_ENCODING_CODES(X)                                                                      \
    X(EMB_QT_Q8, 0, "every block int8")                                                            \
    X(EMB_QT_F16, 1, "every value fp16 (whole-tensor fallback)")                                   \
    X(EMB_QT_MIXED, 2, "bitmap-selected fp16 blocks among int8 blocks, walked in order")           \
    X(EMB_QT_F32, 3, "small vectors")
typedef enum { EMB_ENCODING_CODES(EMB_CODE_ENUM) } emb_encoding_t;

/* ---- serial protocol (firmware/harness/emb_proto.h, embbert_mcu/device/protocol.py) ---- */

#define EMB_PROTO_VERSION 1u
#define EMB_PROTO_SYNC0 0xEBu
#define EMB_PROTO_SYNC1 0x42u
#define EMB_PROTO_REPLY 0x80u /* the reply to request type t has type t | EMB_PROTO_REPLY */

/* Message types: requests, and the error reply. */
#define EMB_MESSAGE_CODES(X)                                                                       \
    X(EMB_MSG_HELLO, 0x01, "board, model hash, sizes, clock, tick unit")                           \
    X(EMB_MSG_INFER, 0x02, "token ids in, logits and ticks out")                                   \
    X(EMB_MSG_STATS, 0x03, "stack peak and size, arena, static buffers, counters")                 \
    X(EMB_MSG_STAGES, 0x04, "ticks per stage of the last inference, with names")                   \
    X(EMB_MSG_SHUTDOWN, 0x05, "empty reply, then the port stops")                                  \
    X(EMB_MSG_ECHO, 0x06, "the payload back (link test)")                                          \
    X(EMB_MSG_TEXT, 0x07, "UTF-8 in; the device tokenizes, infers, returns logits and ids")        \
    X(EMB_MSG_ERROR, 0x7F, "error reply")
enum { EMB_MESSAGE_CODES(EMB_CODE_ENUM) };

/* Error codes carried by EMB_MSG_ERROR; the text is what the host prints. */
#define EMB_PROTO_ERROR_CODES(X)                                                                   \
    X(EMB_PE_CRC, 1, "bad CRC")                                                                    \
    X(EMB_PE_OVERSIZE, 2, "oversized frame")                                                       \
    X(EMB_PE_TYPE, 3, "unknown request type")                                                      \
    X(EMB_PE_LENGTH, 4, "wrong payload length")                                                    \
    X(EMB_PE_MODEL, 5, "model error")
enum { EMB_PROTO_ERROR_CODES(EMB_CODE_ENUM) };

/* Tick units reported by HELLO (ticks x tick_scale = this many units); Python names a unit
 * by the id's suffix in lower case. */
#define EMB_TICK_UNIT_CODES(X)                                                                     \
    X(EMB_TICK_CYCLES, 0, "core clock cycles")                                                     \
    X(EMB_TICK_INSTRUCTIONS, 1, "instructions (the emulator's count)")                             \
    X(EMB_TICK_NANOSECONDS, 2, "nanoseconds")
enum { EMB_TICK_UNIT_CODES(EMB_CODE_ENUM) };

/* ---- message layouts ---- */

/* Wire types: their sizes in bytes. */
#define EMB_WIRE_U8 1u
#define EMB_WIRE_U16 2u
#define EMB_WIRE_U32 4u
#define EMB_WIRE_U64 8u
#define EMB_WIRE_F32 4u

/* Frame: header, payload (len bytes), then EMB_PROTO_CRC: CRC-32 (zlib's) of type..payload. */
#define EMB_PROTO_HEADER_LAYOUT(X)                                                                 \
    X(PROTO_HEADER, SYNC0, U8, 0)                                                                  \
    X(PROTO_HEADER, SYNC1, U8, 1)                                                                  \
    X(PROTO_HEADER, TYPE, U8, 2)                                                                   \
    X(PROTO_HEADER, SEQ, U8, 3)                                                                    \
    X(PROTO_HEADER, LEN, U16, 4)
#define EMB_PROTO_HEADER_BYTES 6u

#define EMB_PROTO_CRC_LAYOUT(X) X(PROTO_CRC, CRC32, U32, 0)
#define EMB_PROTO_CRC_BYTES 4u

/* A string field: this length, then that many ASCII bytes. */
#define EMB_STR_LAYOUT(X) X(STR, LEN, U8, 0)
#define EMB_STR_BYTES 1u

/* Array elements: a token id (INFER request, TEXT reply), a logit (INFER and TEXT replies). */
#define EMB_TOKEN_LAYOUT(X) X(TOKEN, ID, U16, 0)
#define EMB_TOKEN_BYTES 2u
#define EMB_LOGIT_LAYOUT(X) X(LOGIT, VALUE, F32, 0)
#define EMB_LOGIT_BYTES 4u

/* HELLO reply: this, then EMB_HELLO_STRINGS strings: board, port, model SHA-256, prefix. */
#define EMB_HELLO_LAYOUT(X)                                                                        \
    X(HELLO, PROTO_VERSION, U16, 0)                                                                \
    X(HELLO, MAX_LEN, U16, 2)                                                                      \
    X(HELLO, N_CLASSES, U16, 4)                                                                    \
    X(HELLO, N_STAGES, U16, 6)                                                                     \
    X(HELLO, ARENA_BYTES, U32, 8)                                                                  \
    X(HELLO, VOCAB_SIZE, U32, 12)                                                                  \
    X(HELLO, CLOCK_HZ, U32, 16)                                                                    \
    X(HELLO, TICK_SCALE, U32, 20)                                                                  \
    X(HELLO, STACK_BYTES, U32, 24)                                                                 \
    X(HELLO, MAX_PAYLOAD, U32, 28)                                                                 \
    X(HELLO, STATIC_BYTES, U32, 32)                                                                \
    X(HELLO, TICK_UNIT, U8, 36)                                                                    \
    X(HELLO, STACK_GUARD, U8, 37)
#define EMB_HELLO_BYTES 38u
#define EMB_HELLO_STRINGS 4u

/* INFER request: this, then n tokens. */
#define EMB_INFER_REQ_LAYOUT(X) X(INFER_REQ, N, U16, 0)
#define EMB_INFER_REQ_BYTES 2u

/* INFER reply: this, then n_classes logits. */
#define EMB_INFER_LAYOUT(X)                                                                        \
    X(INFER, N, U16, 0)                                                                            \
    X(INFER, N_CLASSES, U16, 2)                                                                    \
    X(INFER, TICKS, U64, 4)
#define EMB_INFER_BYTES 12u

/* TEXT reply (the request is the text's UTF-8 bytes): this, then n_classes logits, then the
 * n tokens the device's tokenizer made. */
#define EMB_TEXT_LAYOUT(X)                                                                         \
    X(TEXT, N, U16, 0)                                                                             \
    X(TEXT, N_CLASSES, U16, 2)                                                                     \
    X(TEXT, TICKS, U64, 4)                                                                         \
    X(TEXT, TOKENIZER_TICKS, U64, 12)
#define EMB_TEXT_BYTES 20u

/* STATS reply. */
#define EMB_STATS_LAYOUT(X)                                                                        \
    X(STATS, STACK_PEAK_BYTES, U32, 0)                                                             \
    X(STATS, STACK_BYTES, U32, 4)                                                                  \
    X(STATS, ARENA_BYTES, U32, 8)                                                                  \
    X(STATS, STATIC_BYTES, U32, 12)                                                                \
    X(STATS, N_INFER, U32, 16)                                                                     \
    X(STATS, N_ERRORS, U32, 20)                                                                    \
    X(STATS, N_DROPPED, U32, 24)
#define EMB_STATS_BYTES 28u

/* STAGES reply: this, then count stages, each an EMB_STAGE and its name (a string). */
#define EMB_STAGES_LAYOUT(X) X(STAGES, COUNT, U16, 0)
#define EMB_STAGES_BYTES 2u
#define EMB_STAGE_LAYOUT(X) X(STAGE, TICKS, U64, 0)
#define EMB_STAGE_BYTES 8u

/* ERROR reply: an EMB_PE_* code, its detail (an emb_status_t for EMB_PE_MODEL), the request's
 * type. */
#define EMB_ERROR_LAYOUT(X)                                                                        \
    X(ERROR, CODE, U8, 0)                                                                          \
    X(ERROR, DETAIL, U8, 1)                                                                        \
    X(ERROR, REQUEST_TYPE, U8, 2)
#define EMB_ERROR_BYTES 3u

/* Every layout and code table, for code that walks them all (the contract test). */
/* A list of macro calls: clang-format does not settle on one layout for it. */
/* clang-format off */
#define EMB_WIRE_LAYOUTS(M) \
    M(PROTO_HEADER) M(PROTO_CRC) M(STR) M(TOKEN) M(LOGIT) M(HELLO) M(INFER_REQ) M(INFER) \
    M(TEXT) M(STATS) M(STAGES) M(STAGE) M(ERROR)
/* clang-format on */
#define EMB_CODE_TABLES(M) M(STATUS) M(ENCODING) M(MESSAGE) M(PROTO_ERROR) M(TICK_UNIT)

/* EMB_<MSG>_<FIELD> = the field's byte offset. A struct of byte arrays (alignment 1, so no
 * padding) lays the fields end to end in table order: each declared offset must equal the
 * one it gets there, and the struct's size the declared total. Members are pasted names, so
 * a port's macro called N or LEN cannot reach them. */
#define EMB_WIRE_OFFSET(msg, field, type, at) EMB_##msg##_##field = (at),
#define EMB_WIRE_MEMBER(msg, field, type, at) uint8_t emb_##field[EMB_WIRE_##type];
#define EMB_WIRE_AT(msg, field, type, at)                                                          \
    EMB_STATIC_ASSERT(offsetof(emb_wire_##msg##_t, emb_##field) == (at), msg##_##field##_offset);
#define EMB_WIRE_LAYOUT(msg)                                                                       \
    enum { EMB_##msg##_LAYOUT(EMB_WIRE_OFFSET) };                                                  \
    typedef struct {                                                                               \
        EMB_##msg##_LAYOUT(EMB_WIRE_MEMBER)                                                        \
    } emb_wire_##msg##_t;                                                                          \
    EMB_##msg##_LAYOUT(EMB_WIRE_AT)                                                                \
        EMB_STATIC_ASSERT(sizeof(emb_wire_##msg##_t) == EMB_##msg##_BYTES, msg##_bytes);

EMB_WIRE_LAYOUTS(EMB_WIRE_LAYOUT)

#endif /* EMB_CONTRACT_H */
