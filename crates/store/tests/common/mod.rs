pub mod api_suite;
