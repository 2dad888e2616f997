"""Numbers of the BPF instruction set (kernel instruction-set.rst, up to cpu v4).

An instruction is an 8-byte slot: ``opcode:8 dst:4 src:4 off:16 imm:32``.  In a
little-endian object the register byte holds dst in its low nibble; in a
big-endian object dst is the high nibble and off/imm are big-endian.  The
64-bit immediate load (``ld_imm64``) takes two slots, the second carrying the
upper 32 bits of the value in its imm field.
"""

from __future__ import annotations

# Classes: opcode & 0x07
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
CLASS_NAMES = ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")

# Source bit (ALU and JMP classes): opcode & 0x08
K = 0x00
X = 0x08

# ALU operation codes: opcode & 0xf0
ALU_ADD, ALU_SUB, ALU_MUL, ALU_DIV = 0x00, 0x10, 0x20, 0x30
ALU_OR, ALU_AND, ALU_LSH, ALU_RSH = 0x40, 0x50, 0x60, 0x70
ALU_NEG, ALU_MOD, ALU_XOR, ALU_MOV = 0x80, 0x90, 0xa0, 0xb0
ALU_ARSH, ALU_END = 0xc0, 0xd0

# Compound-assignment spelling of the two-operand ALU codes (llvm syntax).
ALU_OPERATORS = {
    ALU_ADD: "+=", ALU_SUB: "-=", ALU_MUL: "*=", ALU_DIV: "/=",
    ALU_OR: "|=", ALU_AND: "&=", ALU_LSH: "<<=", ALU_RSH: ">>=",
    ALU_MOD: "%=", ALU_XOR: "^=", ALU_ARSH: "s>>=",
}
# off = 1 turns div/mod into their signed forms (cpu v4).
SIGNED_OPERATORS = {ALU_DIV: "s/=", ALU_MOD: "s%="}
# off of {MOV, X}: 8/16/32 sign-extending moves (cpu v4), 1 = addr_space_cast (ALU64 only).
MOVSX_OFFSETS_ALU = (8, 16)
MOVSX_OFFSETS_ALU64 = (8, 16, 32)
ADDR_SPACE_CAST_OFF = 1
END_WIDTHS = (16, 32, 64)

# Jump operation codes: opcode & 0xf0
JMP_JA, JMP_JEQ, JMP_JGT, JMP_JGE, JMP_JSET, JMP_JNE = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
JMP_JSGT, JMP_JSGE, JMP_CALL, JMP_EXIT = 0x60, 0x70, 0x80, 0x90
JMP_JLT, JMP_JLE, JMP_JSLT, JMP_JSLE, JMP_JCOND = 0xa0, 0xb0, 0xc0, 0xd0, 0xe0
JUMP_OPERATORS = {
    JMP_JEQ: "==", JMP_JGT: ">", JMP_JGE: ">=", JMP_JSET: "&", JMP_JNE: "!=",
    JMP_JSGT: "s>", JMP_JSGE: "s>=", JMP_JLT: "<", JMP_JLE: "<=",
    JMP_JSLT: "s<", JMP_JSLE: "s<=",
}

# Call kinds: src_reg of {CALL, K, JMP}
CALL_HELPER, CALL_LOCAL, CALL_KFUNC = 0, 1, 2
CALL_KIND_NAMES = {CALL_HELPER: "helper", CALL_LOCAL: "bpf-to-bpf", CALL_KFUNC: "kfunc"}
MAY_GOTO = 0  # src_reg of {JCOND, K, JMP}

# Load/store: mode | size | class
MODE_IMM, MODE_ABS, MODE_IND, MODE_MEM, MODE_MEMSX, MODE_ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xc0
SIZE_W, SIZE_H, SIZE_B, SIZE_DW = 0x00, 0x08, 0x10, 0x18
SIZE_BYTES = {SIZE_W: 4, SIZE_H: 2, SIZE_B: 1, SIZE_DW: 8}
SIZE_UNSIGNED = {SIZE_W: "u32", SIZE_H: "u16", SIZE_B: "u8", SIZE_DW: "u64"}
SIZE_SIGNED = {SIZE_W: "s32", SIZE_H: "s16", SIZE_B: "s8"}

LD_IMM64 = MODE_IMM | SIZE_DW | LD  # 0x18

# ld_imm64 src_reg ("pseudo" sources)
PSEUDO_NONE = 0
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6
PSEUDO_NAMES = {
    PSEUDO_NONE: "imm64", PSEUDO_MAP_FD: "map_fd", PSEUDO_MAP_VALUE: "map_value",
    PSEUDO_BTF_ID: "btf_id", PSEUDO_FUNC: "func", PSEUDO_MAP_IDX: "map_idx",
    PSEUDO_MAP_IDX_VALUE: "map_idx_value",
}

# Atomic operations: imm of {ATOMIC, size, STX}
ATOMIC_FETCH = 0x01
ATOMIC_ADD, ATOMIC_OR, ATOMIC_AND, ATOMIC_XOR = 0x00, 0x40, 0x50, 0xa0
ATOMIC_XCHG = 0xe0 | ATOMIC_FETCH
ATOMIC_CMPXCHG = 0xf0 | ATOMIC_FETCH
ATOMIC_LOAD_ACQ = 0x100
ATOMIC_STORE_REL = 0x110
ATOMIC_SIMPLE = {ATOMIC_ADD: ("+=", "add"), ATOMIC_OR: ("|=", "or"),
                 ATOMIC_AND: ("&=", "and"), ATOMIC_XOR: ("^=", "xor")}

MAX_REG = 10  # r0..r10; the register field can hold 15, the kernel accepts 10
