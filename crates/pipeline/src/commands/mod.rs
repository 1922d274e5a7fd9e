pub mod doctor;
pub mod generate;
pub mod schema;
pub mod up;
