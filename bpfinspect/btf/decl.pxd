from bpfinspect.btf.table cimport TableView

cdef class Names(TableView):
    pass

cdef class Declarator(TableView):
    cdef public object _param_hook, _unnamed, _depth, defs, heads, inline, longest, names, plains, style, tails
