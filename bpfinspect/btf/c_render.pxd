from bpfinspect.btf.table cimport TableView
from bpfinspect.btf.decl cimport Names

cdef class Budget:
    cdef public object left, limit, path, section

cdef class DumpNames(Names):
    cdef public object one_space, resolved, tag_counts, ident_counts

cdef class CRenderer(TableView):
    cdef public object _enumerators, _member, _member_decl, _values_hook, budget, decl, heads, layout, names, plans, resolved, tails
