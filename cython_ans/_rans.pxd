"""The Message extension type, declared so other Cython modules can reach its C state.

`from cython_ans._rans cimport Message`, then pass `&msg.m` to the functions declared in
cython_ans/rans.pxd. Stable interface.
"""
from cython_ans.rans cimport rans_msg


cdef class Message:
    cdef rans_msg m
