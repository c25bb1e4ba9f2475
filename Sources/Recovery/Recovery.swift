/// Recovery: the local etcd deployment. Discovery of how etcd runs on this host, the offline
/// data-dir doctor, the restore plan, its executor and journal. (Issue 5; not built yet.)
public enum Recovery {}
