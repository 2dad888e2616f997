from bpfinspect.btf.table cimport TableView

cdef class Layout(TableView):
    cdef public object ptr_size, long_bits, _size, _align, aligns, _plans, _nesting, bits, align_bits
