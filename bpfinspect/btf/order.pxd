cimport cython
from bpfinspect.btf.table cimport TableView

cdef class Walk(TableView):
    cdef public object _done, _referenced, _refs, emit, estate, fwd, items, order, ostate, queue

# The reference scan with C locals (the source's references(), unchanged).
@cython.locals(w="const unsigned int[:]", kinds="const unsigned char[:]", refers="const unsigned char[:]",
               marked="unsigned char[:]", vlen_mask="unsigned int", t=Py_ssize_t, p=Py_ssize_t, q=Py_ssize_t,
               how="unsigned char", x="unsigned int", top="unsigned int")
cpdef tuple references(w, pos, kinds, Py_ssize_t n)
