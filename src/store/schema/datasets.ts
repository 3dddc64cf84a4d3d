/** Dataset metadata (migration 010); each dataset's rows are in a table `ds_<id without dashes>`. */
export interface DatasetsTable {
  id: string;
  name: string;
  /** lower-cased name, for sorting and `nameLike`. */
  name_key: string;
  description: string;
  owner_user_id: number;
  /** JSON `[{name, type}]`; the i-th column's rows are in physical column `c<i>`. */
  columns: string;
  row_count: number;
  /** 1 when personalized data permissions apply (PDP; later). */
  pdp_enabled: number;
  created_at: string;
  updated_at: string;
  data_current_at: string | null;
}

export interface DatasetTables {
  datasets: DatasetsTable;
}
