//! Helpers shared by gort's sample programs (one binary each under
//! `src/bin/`). The samples arrive with the facade issue.
