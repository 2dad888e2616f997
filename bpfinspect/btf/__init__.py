"""BTF and BTF.ext: decoding, the type graph, sizes and layout, and renderings."""

from bpfinspect.btf.btf import Btf, load_btf, parse_btf
from bpfinspect.btf.ext import CORE_KINDS, BtfExt, CoreRelo, FuncInfo, LineInfo, parse_btf_ext
from bpfinspect.btf.kinds import Kind
from bpfinspect.btf.model import ArrayInfo, DatasecVar, EnumValue, Member, Param, Type

__all__ = ["Btf", "BtfExt", "CoreRelo", "CORE_KINDS", "FuncInfo", "Kind", "LineInfo", "load_btf", "parse_btf",
           "parse_btf_ext", "ArrayInfo", "DatasecVar", "EnumValue", "Member", "Param", "Type"]
