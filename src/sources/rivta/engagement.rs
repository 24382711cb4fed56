//! SCAFFOLD: engagement index client (FindContent).
