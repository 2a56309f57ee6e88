"""One module per sample department's register: its tables (DDL) and how its rows are built."""
