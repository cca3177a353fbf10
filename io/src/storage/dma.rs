//! glommio DmaFile storage (being written)
