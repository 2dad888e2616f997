cimport cython

# The decoding loop with C locals (the source's _walk_records, unchanged).
@cython.locals(w="const unsigned int[:]", fixed="const unsigned char[:]", per_vlen="const unsigned char[:]",
               shift="unsigned int", kind_mask="unsigned int", vlen_mask="unsigned int", pos=Py_ssize_t,
               info="unsigned int", kind="unsigned int", size=Py_ssize_t)
cpdef Py_ssize_t _walk_records(w, Py_ssize_t n, list starts, infos) except -1
