//! Load generator (to come).
