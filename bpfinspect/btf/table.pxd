cdef class TableView:
    cdef public object table, w, pos, kinds, n, strs
