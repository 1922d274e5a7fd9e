pub mod audit;
pub mod doctor;
pub mod generate;
pub mod schema;
pub mod serve;
pub mod up;
