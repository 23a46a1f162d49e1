//! Host tuning checks (to come).
