"""The DWARF numbers this package reads (DWARF 2 to 5, and the GNU/LLVM extensions clang emits).

Only what the reader and the type conversion use is listed; a tag, attribute or
form not named here is still walked over correctly (forms must all be known to
step over them, so every form of DWARF 5 is in :data:`FORM`).
"""

from __future__ import annotations

# -- tags ------------------------------------------------------------------------------------

TAG_array_type = 0x01
TAG_enumeration_type = 0x04
TAG_formal_parameter = 0x05
TAG_lexical_block = 0x0B
TAG_member = 0x0D
TAG_pointer_type = 0x0F
TAG_reference_type = 0x10
TAG_compile_unit = 0x11
TAG_structure_type = 0x13
TAG_subroutine_type = 0x15
TAG_typedef = 0x16
TAG_union_type = 0x17
TAG_unspecified_parameters = 0x18
TAG_inlined_subroutine = 0x1D
TAG_ptr_to_member_type = 0x1F
TAG_subrange_type = 0x21
TAG_base_type = 0x24
TAG_const_type = 0x26
TAG_enumerator = 0x28
TAG_subprogram = 0x2E
TAG_variable = 0x34
TAG_volatile_type = 0x35
TAG_restrict_type = 0x37
TAG_unspecified_type = 0x3B
TAG_partial_unit = 0x3C
TAG_rvalue_reference_type = 0x42
TAG_atomic_type = 0x47
TAG_skeleton_unit = 0x4A
TAG_LLVM_annotation = 0x6000

# -- attributes ------------------------------------------------------------------------------

AT_sibling = 0x01
AT_location = 0x02
AT_name = 0x03
AT_byte_size = 0x0B
AT_bit_offset = 0x0C
AT_bit_size = 0x0D
AT_low_pc = 0x11
AT_high_pc = 0x12
AT_language = 0x13
AT_stmt_list = 0x10
AT_const_value = 0x1C
AT_lower_bound = 0x22
AT_upper_bound = 0x2F
AT_abstract_origin = 0x31
AT_count = 0x37
AT_data_member_location = 0x38
AT_decl_file = 0x3A
AT_decl_line = 0x3B
AT_declaration = 0x3C
AT_encoding = 0x3E
AT_external = 0x3F
AT_specification = 0x47
AT_type = 0x49
AT_ranges = 0x55
AT_data_bit_offset = 0x6B
AT_str_offsets_base = 0x72
AT_addr_base = 0x73
AT_rnglists_base = 0x74
AT_alignment = 0x88
AT_GNU_addr_base = 0x2133
AT_GNU_ranges_base = 0x2132

# -- forms: name and how to step over the value -----------------------------------------------

FORM_addr = 0x01
FORM_block2 = 0x03
FORM_block4 = 0x04
FORM_data2 = 0x05
FORM_data4 = 0x06
FORM_data8 = 0x07
FORM_string = 0x08
FORM_block = 0x09
FORM_block1 = 0x0A
FORM_data1 = 0x0B
FORM_flag = 0x0C
FORM_sdata = 0x0D
FORM_strp = 0x0E
FORM_udata = 0x0F
FORM_ref_addr = 0x10
FORM_ref1 = 0x11
FORM_ref2 = 0x12
FORM_ref4 = 0x13
FORM_ref8 = 0x14
FORM_ref_udata = 0x15
FORM_indirect = 0x16
FORM_sec_offset = 0x17
FORM_exprloc = 0x18
FORM_flag_present = 0x19
FORM_strx = 0x1A
FORM_addrx = 0x1B
FORM_ref_sup4 = 0x1C
FORM_strp_sup = 0x1D
FORM_data16 = 0x1E
FORM_line_strp = 0x1F
FORM_ref_sig8 = 0x20
FORM_implicit_const = 0x21
FORM_loclistx = 0x22
FORM_rnglistx = 0x23
FORM_ref_sup8 = 0x24
FORM_strx1 = 0x25
FORM_strx2 = 0x26
FORM_strx3 = 0x27
FORM_strx4 = 0x28
FORM_addrx1 = 0x29
FORM_addrx2 = 0x2A
FORM_addrx3 = 0x2B
FORM_addrx4 = 0x2C
FORM_GNU_addr_index = 0x1F01
FORM_GNU_str_index = 0x1F02
FORM_GNU_ref_alt = 0x1F20
FORM_GNU_strp_alt = 0x1F21

# How a form's value is laid out, for stepping over it:
#   int n >= 0     n bytes
#   "addr"         the unit's address size
#   "offset"       4 bytes in 32-bit DWARF, 8 in 64-bit DWARF
#   "ref_addr"     address size in DWARF 2, offset size after
#   "uleb"/"sleb"  one LEB128 number
#   "string"       NUL-terminated bytes
#   "block1/2/4"   a length of 1/2/4 bytes, then that many bytes
#   "block"        a ULEB128 length, then that many bytes
#   "indirect"     a ULEB128 form, then a value of that form
FORM_SHAPE: dict[int, object] = {
    FORM_addr: "addr", FORM_block2: "block2", FORM_block4: "block4", FORM_data2: 2, FORM_data4: 4,
    FORM_data8: 8, FORM_string: "string", FORM_block: "block", FORM_block1: "block1", FORM_data1: 1,
    FORM_flag: 1, FORM_sdata: "sleb", FORM_strp: "offset", FORM_udata: "uleb", FORM_ref_addr: "ref_addr",
    FORM_ref1: 1, FORM_ref2: 2, FORM_ref4: 4, FORM_ref8: 8, FORM_ref_udata: "uleb", FORM_indirect: "indirect",
    FORM_sec_offset: "offset", FORM_exprloc: "block", FORM_flag_present: 0, FORM_strx: "uleb",
    FORM_addrx: "uleb", FORM_ref_sup4: 4, FORM_strp_sup: "offset", FORM_data16: 16, FORM_line_strp: "offset",
    FORM_ref_sig8: 8, FORM_implicit_const: 0, FORM_loclistx: "uleb", FORM_rnglistx: "uleb", FORM_ref_sup8: 8,
    FORM_strx1: 1, FORM_strx2: 2, FORM_strx3: 3, FORM_strx4: 4, FORM_addrx1: 1, FORM_addrx2: 2, FORM_addrx3: 3,
    FORM_addrx4: 4, FORM_GNU_addr_index: "uleb", FORM_GNU_str_index: "uleb", FORM_GNU_ref_alt: "offset",
    FORM_GNU_strp_alt: "offset",
}

# What a decoded value means (the reader turns each form into one of these).
STRING_FORMS = frozenset({FORM_string, FORM_strp, FORM_line_strp, FORM_strx, FORM_strx1, FORM_strx2, FORM_strx3,
                          FORM_strx4, FORM_GNU_str_index})
REF_FORMS = frozenset({FORM_ref1, FORM_ref2, FORM_ref4, FORM_ref8, FORM_ref_udata})
ADDRX_FORMS = frozenset({FORM_addrx, FORM_addrx1, FORM_addrx2, FORM_addrx3, FORM_addrx4, FORM_GNU_addr_index})
BLOCK_FORMS = frozenset({FORM_block, FORM_block1, FORM_block2, FORM_block4, FORM_exprloc})
# Constants whose signedness the form does not say (DW_FORM_dataN): the attribute's meaning decides.
DATA_FORMS = frozenset({FORM_data1, FORM_data2, FORM_data4, FORM_data8})

# -- base type encodings -----------------------------------------------------------------------

ATE_address = 0x1
ATE_boolean = 0x2
ATE_complex_float = 0x3
ATE_float = 0x4
ATE_signed = 0x5
ATE_signed_char = 0x6
ATE_unsigned = 0x7
ATE_unsigned_char = 0x8
ATE_UTF = 0x10

# -- location operations (data member locations) ------------------------------------------------

OP_constu = 0x10
OP_plus_uconst = 0x23

# -- range list entries (DWARF 5 .debug_rnglists) ------------------------------------------------

RLE_end_of_list = 0
RLE_base_addressx = 1
RLE_startx_endx = 2
RLE_startx_length = 3
RLE_offset_pair = 4
RLE_base_address = 5
RLE_start_end = 6
RLE_start_length = 7
