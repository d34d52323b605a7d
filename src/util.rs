//! Small shared helpers with no place in the data-flow chain.
