//! Integration tests of encore-edge: the C header, opening files (good and damaged), the C
//! interface's contract.

mod header;
