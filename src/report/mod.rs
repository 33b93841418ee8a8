//! What csp-onboard tells people and programs about a sheet or a job: the validation report today;
//! status tables, results files and the credential export with the journal.

pub mod export;
pub mod html;
pub mod status;
pub mod table;
pub mod validation;
pub mod write_back;
