pub mod audit;
pub mod bench;
pub mod doctor;
pub mod generate;
pub mod schema;
pub mod serve;
pub mod up;
