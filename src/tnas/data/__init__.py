"""tnas.data"""
