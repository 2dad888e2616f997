from bpfinspect.btf.table cimport TableView

cdef class Walk(TableView):
    cdef public object _done, _protos, _referenced, emit, estate, fwd, items, order, ostate, queue
